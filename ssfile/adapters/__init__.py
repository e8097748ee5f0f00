"""Layer 5: adapters to other systems (Redis, Kafka, stdio); each optional and import-guarded."""
