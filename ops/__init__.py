"""dbops: operations toolkit for an Aurora PostgreSQL and DynamoDB estate."""

__version__ = "0.1.0"
