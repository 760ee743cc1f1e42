"""Everything that talks to the chain: compile, deploy, keys, dev chain, relayer, engine configs."""
