"""Chain events -> SQL mirror: models, migrations, the sync loop with reorg handling, the audit.

- `models`: the SQLModel tables; `db`: engines and Alembic migrations applied in code;
- `mirror`: applies decoded events to the tables in bulk; `sync`: the exactly-once sync loop;
- `audit`: recomputes the registry from the chain alone and compares; `cli`: `sync` and `audit`.

Readers (the API) import `models` and `db` only.
"""
