variable "name" {
  description = "Cluster identifier; also the prefix of every resource of the module."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,50}$", var.name))
    error_message = "The name must start with a letter and hold only lowercase letters, digits and hyphens (at most 51)."
  }
}

variable "engine" {
  description = "Database engine. Only aurora-postgresql is supported."
  type        = string
  default     = "aurora-postgresql"

  validation {
    condition     = var.engine == "aurora-postgresql"
    error_message = "The engine must be aurora-postgresql."
  }
}

variable "engine_version" {
  description = "Aurora PostgreSQL version the cluster is created with, e.g. 15.4. Later minor upgrades by AWS are not drift (Terraform ignores changes to it after creation); its major version picks the parameter group family."
  type        = string
  default     = "15.4"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+$", var.engine_version))
    error_message = "The engine_version must look like 15.4."
  }
}

variable "instance_class" {
  description = "Instance class of the writer and the readers."
  type        = string
  default     = "db.t3.medium"

  validation {
    condition     = can(regex("^db\\.", var.instance_class))
    error_message = "The instance_class must start with db."
  }
}

variable "reader_count" {
  description = "Number of readers besides the writer (0 to 15)."
  type        = number
  default     = 1

  validation {
    condition     = var.reader_count >= 0 && var.reader_count <= 15 && floor(var.reader_count) == var.reader_count
    error_message = "The reader_count must be a whole number from 0 to 15."
  }
}

variable "availability_zones" {
  description = "AZs to spread the instances over, in order (writer in the first)."
  type        = list(string)
  default     = []
}

variable "vpc_id" {
  description = "VPC of the cluster's security group."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (at least two AZs) for the DB subnet group."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "The subnet_ids must name at least two subnets."
  }
}

variable "allowed_security_group_ids" {
  description = "Security groups whose members may connect on the database port."
  type        = list(string)
  default     = []
}

variable "allowed_cidr_blocks" {
  description = "CIDR blocks that may connect on the database port."
  type        = list(string)
  default     = []

  validation {
    condition     = !contains(var.allowed_cidr_blocks, "0.0.0.0/0")
    error_message = "The allowed_cidr_blocks must not contain 0.0.0.0/0."
  }
}

variable "port" {
  description = "Database port."
  type        = number
  default     = 5432
}

variable "database_name" {
  description = "Name of the initial database."
  type        = string
  default     = "app"
}

variable "master_username" {
  description = "Master user name."
  type        = string
  default     = "dbadmin"
}

variable "master_password" {
  description = "Master password. Never committed: pass it as TF_VAR_... from a secret store. Stored in Secrets Manager."
  type        = string
  sensitive   = true

  validation {
    condition     = length(var.master_password) >= 16
    error_message = "The master_password must be at least 16 characters."
  }
}

variable "kms_key_arn" {
  description = "Customer managed key for storage, Performance Insights, the master secret and the PostgreSQL log group; its policy must let CloudWatch Logs use it (module kms, allow_cloudwatch_logs)."
  type        = string
}

variable "backup_retention_days" {
  description = "Automated backup retention in days (1 to 35)."
  type        = number
  default     = 7

  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 35
    error_message = "The backup_retention_days must be between 1 and 35."
  }
}

variable "backup_window" {
  description = "Daily automated backup window (UTC)."
  type        = string
  default     = "03:00-04:00"
}

variable "maintenance_window" {
  description = "Weekly maintenance window (UTC); must not overlap the backup window."
  type        = string
  default     = "sun:05:00-sun:06:00"
}

variable "deletion_protection" {
  description = "Refuse deletion of the cluster."
  type        = bool
  default     = true
}

variable "skip_final_snapshot" {
  description = "Delete without a final snapshot (lab only)."
  type        = bool
  default     = false
}

variable "monitoring_interval" {
  description = "Enhanced monitoring interval in seconds (1, 5, 10, 15, 30 or 60)."
  type        = number
  default     = 60

  validation {
    condition     = contains([1, 5, 10, 15, 30, 60], var.monitoring_interval)
    error_message = "The monitoring_interval must be one of 1, 5, 10, 15, 30, 60."
  }
}

variable "log_retention_days" {
  description = "Days CloudWatch Logs keeps the exported PostgreSQL log (a retention CloudWatch Logs accepts on provider 3.39: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827 or 3653)."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653], var.log_retention_days)
    error_message = "The log_retention_days must be one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653."
  }
}

variable "log_statement" {
  description = "Which statements PostgreSQL logs: none, ddl, mod or all."
  type        = string
  default     = "ddl"

  validation {
    condition     = contains(["none", "ddl", "mod", "all"], var.log_statement)
    error_message = "The log_statement must be none, ddl, mod or all."
  }
}

variable "log_min_duration_statement_ms" {
  description = "Log statements slower than this many milliseconds (-1 disables)."
  type        = number
  default     = 1000
}

variable "log_temp_files_kb" {
  description = "Log temporary files larger than this many kB (-1 disables)."
  type        = number
  default     = 10240
}

variable "secret_recovery_window_days" {
  description = "Days a deleted master secret can be recovered (0 deletes at once)."
  type        = number
  default     = 7
}

variable "backup_tags" {
  description = "Tags that put the cluster under an AWS Backup selection."
  type        = map(string)
  default     = { backup = "dbops" }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
