"""Write the registry ABI that ships in the indexer package, for auditors without the sources,
and the signing types node/contracts.py loads (parsed from the hashing libraries' type strings).

Run after changing a contract's interface: `.venv/bin/python -m scripts.packaged_abi`.
`tests/node/test_signing_types.py` fails while either file differs from the current sources.
"""

from __future__ import annotations

import json

from indexer.independent import PACKAGED_ABI
from node.compile import compile_contracts, registry_abi, signing_contract
from node.contracts import SIGNING_TYPES


def main() -> None:
    """Compile (or reuse the current sources' cached artifacts) and write ABI and signing types."""
    abi = registry_abi(compile_contracts())  # the current sources, not the last compilation
    PACKAGED_ABI.write_text(json.dumps(abi, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"Wrote {len(abi)} ABI entries to {PACKAGED_ABI.name}.")
    signing = signing_contract(abi)
    SIGNING_TYPES.write_text(json.dumps(signing, indent=1) + "\n", encoding="utf-8")
    print(f"Wrote {len(signing['calls'])} signed types to {SIGNING_TYPES.name}.")


if __name__ == "__main__":
    main()
