variable "env" {
  description = "Env name (lab, prod...); part of every shared resource name."
  type        = string
}

variable "account_id" {
  description = "AWS account id of the estate."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the Aurora cluster."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the Aurora cluster (two AZs at least)."
  type        = list(string)
}

variable "availability_zones" {
  description = "AZs the Aurora instances spread over."
  type        = list(string)
}

variable "allowed_security_group_ids" {
  description = "Security groups of the applications that connect to Aurora."
  type        = list(string)
  default     = []
}

variable "allowed_cidr_blocks" {
  description = "CIDR blocks that connect to Aurora."
  type        = list(string)
  default     = []
}

variable "aurora_name" {
  description = "Identifier of the Aurora cluster."
  type        = string
}

variable "aurora_engine" {
  description = "Engine of the cluster (the module accepts only aurora-postgresql)."
  type        = string
  default     = "aurora-postgresql"
}

variable "aurora_engine_version" {
  description = "Aurora PostgreSQL version."
  type        = string
  default     = "15.4"
}

variable "aurora_instance_class" {
  description = "Instance class of the writer and readers."
  type        = string
  default     = "db.t3.medium"
}

variable "aurora_reader_count" {
  description = "Readers besides the writer."
  type        = number
  default     = 1
}

variable "aurora_master_password" {
  description = "Master password of the cluster (sensitive; from a secret store)."
  type        = string
  sensitive   = true
}

variable "aurora_backup_retention_days" {
  description = "Automated backup retention of the cluster."
  type        = number
  default     = 7
}

variable "aurora_log_retention_days" {
  description = "Days CloudWatch Logs keeps the cluster's PostgreSQL log."
  type        = number
  default     = 365
}

variable "deletion_protection" {
  description = "Deletion protection and final snapshots (off only in the lab)."
  type        = bool
  default     = true
}

variable "rds_proxy_enabled" {
  description = "Put an RDS Proxy in front of the Aurora cluster (billed per vCPU-hour of the cluster's instances)."
  type        = bool
  default     = false
}

variable "rds_proxy_iam_auth" {
  description = "Client authentication at the proxy: DISABLED (the master credentials, over TLS) or REQUIRED (IAM tokens only)."
  type        = string
  default     = "DISABLED"

  validation {
    condition     = contains(["DISABLED", "REQUIRED"], var.rds_proxy_iam_auth)
    error_message = "The rds_proxy_iam_auth must be DISABLED or REQUIRED."
  }
}

variable "rds_proxy_max_connections_percent" {
  description = "The proxy's largest pool, as a percentage of the cluster's max_connections (1 to 100); it keeps up to half of that idle."
  type        = number
  default     = 90

  validation {
    condition     = var.rds_proxy_max_connections_percent >= 1 && var.rds_proxy_max_connections_percent <= 100 && floor(var.rds_proxy_max_connections_percent) == var.rds_proxy_max_connections_percent
    error_message = "The rds_proxy_max_connections_percent must be a whole number from 1 to 100."
  }
}

variable "table_prefix" {
  description = "Prefix of the table names."
  type        = string
  default     = ""
}

variable "backup_retention_days" {
  description = "Retention of AWS Backup daily recovery points."
  type        = number
  default     = 7
}

variable "continuous_backup" {
  description = "Add AWS Backup continuous backup (PITR) for Aurora."
  type        = bool
  default     = false
}

variable "account_budget_usd" {
  description = "Monthly limit of the account's AWS Budgets COST budget, in USD. The budget has no filter: it counts everything the account runs, not this estate alone. The estate's own objective is monthly_budget_usd in dbops.toml, which `dbops cost check` judges."
  type        = number
  default     = 80

  validation {
    condition     = var.account_budget_usd > 0
    error_message = "The account_budget_usd must be positive."
  }
}

variable "runner_rule_names" {
  description = "EventBridge rules of the env's drill-runner (its rule_names output); each gets a failed-invocations alarm on the alarm topic."
  type        = list(string)
  default     = []
}

variable "alarm_emails" {
  description = "Emails subscribed to the alarm topic."
  type        = list(string)
  default     = []
}

variable "budget_emails" {
  description = "Emails notified by the budget."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

variable "lake_bytes_scanned_cutoff_per_query" {
  description = "Bytes one Athena query of the analytics lake may scan before Athena cancels it (cost guardrail)."
  type        = number
  default     = 1073741824 # 1 GiB

  validation {
    condition     = var.lake_bytes_scanned_cutoff_per_query >= 10485760
    error_message = "The lake_bytes_scanned_cutoff_per_query must be at least 10485760 (10 MB, Athena's minimum)."
  }
}

variable "lake_pipeline_prefixes" {
  description = "The destination.prefix of each dbops etl pipeline writing to the lake (dbops.toml): their DynamoDB exports and quarantined batches expire (module analytics-lake)."
  type        = list(string)
  default     = []
}
