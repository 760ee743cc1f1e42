"""Tests for the embedded anvil dev chain, against a real anvil process."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest
from eth_account import Account
from web3 import HTTPProvider, Web3

from node.devchain import ANVIL_BIN_ENV, DEV_CHAIN_ID, DevChain
from node.errors import DevChainError
from node.keys import dev_account, dev_accounts
from node.settings import NodeSettings

chain = pytest.mark.chain


def _web3(dev_chain: DevChain) -> Web3:
    return Web3(HTTPProvider(dev_chain.rpc_url, request_kwargs={"timeout": 10}))


@chain
def test_start_serves_a_healthy_chain_with_every_dev_role_funded(dev_chain: DevChain) -> None:
    assert not dev_chain.is_healthy()
    assert dev_chain.start() is dev_chain
    assert dev_chain.started
    assert dev_chain.is_healthy()
    assert dev_chain.rpc_url == f"http://127.0.0.1:{dev_chain.port}"
    assert dev_chain.pid_path.read_text().strip() == str(dev_chain.pid)
    assert dev_chain.log_path.is_file()

    w3 = _web3(dev_chain)
    assert w3.eth.chain_id == DEV_CHAIN_ID
    for role, account in dev_accounts().items():
        assert w3.eth.get_balance(account.address) > 0, f"{role} is not funded"


@chain
def test_state_persists_across_restart(dev_chain: DevChain) -> None:
    dev_chain.start()
    w3 = _web3(dev_chain)
    sender = dev_account("issuer")
    recipient = Account.create().address
    base_fee = w3.eth.get_block("latest")["baseFeePerGas"]
    signed = sender.sign_transaction(
        {
            "type": 2,
            "chainId": DEV_CHAIN_ID,
            "nonce": w3.eth.get_transaction_count(sender.address),
            "to": recipient,
            "value": 12345,
            "gas": 21000,
            "maxFeePerGas": 2 * base_fee + 1,
            "maxPriorityFeePerGas": 1,
        }
    )
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    assert w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)["status"] == 1
    block = w3.eth.block_number
    assert block >= 1

    dev_chain.stop()
    assert not dev_chain.is_running()
    assert not dev_chain.is_healthy()
    assert not dev_chain.pid_path.exists()
    assert dev_chain.state_path.is_file()

    dev_chain.start()
    assert dev_chain.started
    w3 = _web3(dev_chain)
    assert w3.eth.block_number == block
    assert dev_chain.block_number() == block
    assert w3.eth.get_balance(recipient) == 12345
    assert w3.eth.get_transaction_count(sender.address) == 1
    assert w3.eth.get_transaction_receipt(tx_hash)["status"] == 1


@chain
def test_start_reuses_the_running_chain_of_the_data_dir(dev_chain: DevChain) -> None:
    dev_chain.start()
    pid = dev_chain.pid
    again = DevChain(dev_chain.data_dir, port=dev_chain.port)
    again.start()
    assert not again.started
    assert again.pid == pid
    assert again.is_healthy()


@chain
def test_start_refuses_a_second_chain_for_the_same_data_dir_on_another_port(
    dev_chain: DevChain, anvil_bin: Path
) -> None:
    dev_chain.start()
    other_port = dev_chain.port + 1 if dev_chain.port < 65535 else dev_chain.port - 1
    with pytest.raises(DevChainError, match=f"already runs as pid {dev_chain.pid}"):
        DevChain(dev_chain.data_dir, port=other_port).start()


@chain
def test_context_manager_starts_and_stops(tmp_path: Path, free_port: int, anvil_bin: Path) -> None:
    settings = NodeSettings(data_dir=tmp_path, chain_port=free_port)
    with DevChain.from_settings(settings) as dev_chain:
        assert dev_chain.is_healthy()
        assert dev_chain.state_path == settings.chain_state_path.resolve()
        pid = dev_chain.pid
    assert pid is not None
    assert not dev_chain.is_running()
    assert not dev_chain.is_healthy()
    assert settings.chain_state_path.is_file()


@chain
def test_busy_port_is_reported(dev_chain: DevChain) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", dev_chain.port))
        listener.listen()
        with pytest.raises(DevChainError, match="already in use"):
            dev_chain.start()
    assert not dev_chain.is_running()


@chain
def test_stale_pid_file_of_another_program_is_ignored(dev_chain: DevChain) -> None:
    dev_chain.chain_dir.mkdir(parents=True)
    # Our own pid: alive, but not an anvil of this data dir. It must never be signalled.
    dev_chain.pid_path.write_text(f"{os.getpid()}\n")
    dev_chain.start()
    assert dev_chain.started
    assert dev_chain.pid not in (None, os.getpid())


@chain
def test_unreadable_state_is_explained(dev_chain: DevChain) -> None:
    dev_chain.chain_dir.mkdir(parents=True)
    dev_chain.state_path.write_text("{not json")
    with pytest.raises(DevChainError, match="cannot be loaded"):
        dev_chain.start()
    assert not dev_chain.is_running()
    assert not dev_chain.pid_path.exists()


def test_missing_binary_says_how_to_install(
    tmp_path: Path, free_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ANVIL_BIN_ENV, str(tmp_path / "no-anvil-here"))
    with pytest.raises(DevChainError, match="make setup"):
        DevChain(tmp_path, port=free_port).start()
    assert not (tmp_path / "chain" / "anvil.pid").exists()


def test_stop_without_a_chain_is_a_no_op(tmp_path: Path, free_port: int) -> None:
    dev_chain = DevChain(tmp_path, port=free_port)
    dev_chain.stop()
    assert not dev_chain.is_running()
    assert not dev_chain.is_healthy()


@chain
def test_restart_after_a_hard_kill_keeps_the_last_dumped_state(dev_chain: DevChain) -> None:
    dev_chain.start()
    w3 = _web3(dev_chain)
    recipient = Account.create().address
    sender = dev_account("ar_1")
    tx_hash = w3.eth.send_raw_transaction(
        sender.sign_transaction(
            {
                "type": 2,
                "chainId": DEV_CHAIN_ID,
                "nonce": 0,
                "to": recipient,
                "value": 1,
                "gas": 21000,
                "maxFeePerGas": 10**11,
                "maxPriorityFeePerGas": 1,
            }
        ).raw_transaction
    )
    w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)
    block = w3.eth.block_number
    time.sleep(2.5)  # longer than --state-interval 1, so the block has been dumped
    pid = dev_chain.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)

    dev_chain.start()  # the pid file is stale now and must not block a fresh start
    assert dev_chain.started
    assert dev_chain.pid != pid
    assert dev_chain.block_number() == block
    assert _web3(dev_chain).eth.get_balance(recipient) == 1
