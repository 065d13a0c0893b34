variable "aws_endpoint" {
  description = "URL of the embedded AWS emulator (set by `dbops tf` from the running lab)."
  type        = string

  validation {
    condition     = can(regex("^https?://", var.aws_endpoint))
    error_message = "The aws_endpoint value must be an http(s) URL."
  }
}

variable "region" {
  description = "AWS region the lab pretends to be in."
  type        = string
  default     = "us-east-1"
}

variable "aurora_master_password" {
  description = "Master password of the lab cluster; `dbops tf` generates one per lab and keeps it in the lab dir."
  type        = string
  sensitive   = true
}

variable "aurora_engine" {
  description = "Engine of the lab cluster (the module accepts only aurora-postgresql)."
  type        = string
  default     = "aurora-postgresql"
}

variable "aurora_reader_count" {
  description = "Readers of the lab cluster."
  type        = number
  default     = 1
}

variable "aurora_backup_retention_days" {
  description = "Backup retention of the lab cluster."
  type        = number
  default     = 7
}

variable "account_budget_usd" {
  description = "Monthly limit of the lab account's AWS Budgets COST budget, in USD. The lab account runs the lab estate alone, so it equals the estate's objective ([envs.lab.policy] monthly_budget_usd in dbops.toml)."
  type        = number
  default     = 80

  validation {
    condition     = var.account_budget_usd > 0
    error_message = "The account_budget_usd must be positive."
  }
}

variable "rds_proxy_enabled" {
  description = "Put an RDS Proxy in front of the lab cluster (off by default: on AWS it is billed per vCPU-hour of the cluster's instances)."
  type        = bool
  default     = false
}

# The window in which the lab's Aurora cluster runs: dbops.toml [envs.lab.schedule], which
# `dbops schedule apply` reads; tests/terraform/test_drill_runner.py keeps the two equal.
variable "window_days" {
  description = "Days of the lab's weekly window (UTC), as in dbops.toml [envs.lab.schedule] days."
  type        = list(string)
  default     = ["SUN"]
}

variable "window_start" {
  description = "Start of the lab's window, HH:MM UTC, as in dbops.toml [envs.lab.schedule] start."
  type        = string
  default     = "01:00"
}

variable "window_hours" {
  description = "Length of the lab's window in hours, as in dbops.toml [envs.lab.schedule] hours."
  type        = number
  default     = 4
}

variable "runner_image" {
  description = "The dbops image the lab's runner tasks would run. The emulator pulls nothing: the default names no pushed image, only the shape of one (ECR, pinned by digest)."
  type        = string
  default     = "123456789012.dkr.ecr.us-east-1.amazonaws.com/dbops@sha256:0000000000000000000000000000000000000000000000000000000000000000"
}

variable "lake_bytes_scanned_cutoff_per_query" {
  description = "Bytes one Athena query of the lab's analytics lake may scan before Athena cancels it (cost guardrail)."
  type        = number
  default     = 1073741824 # 1 GiB
}
