"""The four AgentInstruct stages as independent FastStream services on Kafka.

Dependencies point one way: `services` -> `agentinstruct` (core) -> `agentinstruct_schemas`.
"""
