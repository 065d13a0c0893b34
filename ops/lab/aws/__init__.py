"""The lab's AWS side: moto in server mode and the extensions it runs with (Aurora backed by real
PostgreSQL, AWS Backup jobs, DynamoDB item history and capacity, Cost Explorer and Budgets), and the
settings those extensions take at run time."""
