variable "account_id" {
  description = "The AWS account the estate is in (dbops passes the env's account_id); empty: not pinned."
  type        = string
  default     = ""
}

variable "region" {
  description = "AWS region of the estate."
  type        = string
  default     = "us-east-1"
}

variable "vpc_id" {
  description = "VPC of the database subnets."
  type        = string
}

variable "subnet_ids" {
  description = "Private database subnets, one per AZ."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 3
    error_message = "The subnet_ids must name a subnet in each of three AZs."
  }
}

variable "availability_zones" {
  description = "The three AZs the cluster spreads over."
  type        = list(string)

  validation {
    condition     = length(var.availability_zones) == 3
    error_message = "The availability_zones must list three AZs."
  }
}

variable "app_security_group_ids" {
  description = "Security groups of the applications that connect to Aurora."
  type        = list(string)
}

variable "aurora_instance_class" {
  description = "Instance class of the production cluster."
  type        = string
  default     = "db.r6g.large"
}

variable "rds_proxy_enabled" {
  description = "RDS Proxy in front of the production cluster (pooling, and failovers without waiting on DNS)."
  type        = bool
  default     = true
}

variable "aurora_master_password" {
  description = "Master password (TF_VAR_aurora_master_password from your secret store; never committed)."
  type        = string
  sensitive   = true
}

variable "account_budget_usd" {
  description = "Monthly limit of the production account's AWS Budgets COST budget, in USD: everything the account runs, not the estate alone (the estate's objective is monthly_budget_usd in dbops.toml). No default: the account's budget is set, not guessed."
  type        = number

  validation {
    condition     = var.account_budget_usd > 0
    error_message = "The account_budget_usd must be positive."
  }
}

variable "alarm_emails" {
  description = "On-call emails subscribed to the alarms."
  type        = list(string)
  default     = []
}

variable "budget_emails" {
  description = "Finance emails notified by the budget."
  type        = list(string)
  default     = []
}
