"""Write the registry ABI that ships in the indexer package, for auditors without the sources.

Run after changing a contract's interface: `.venv/bin/python -m scripts.packaged_abi`.
`tests/indexer/test_independent_audit.py` fails while the shipped ABI differs from the compiled one.
"""

from __future__ import annotations

import json

from indexer.independent import PACKAGED_ABI
from node.compile import load_artifacts, registry_abi


def main() -> None:
    """Compile (or reuse the cached artifacts) and write the merged registry ABI."""
    abi = registry_abi(load_artifacts())
    PACKAGED_ABI.write_text(json.dumps(abi, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"Wrote {len(abi)} ABI entries to {PACKAGED_ABI.name}.")


if __name__ == "__main__":
    main()
