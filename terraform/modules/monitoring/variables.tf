variable "name" {
  description = "Name of the SNS topic and prefix of every alarm."
  type        = string
}

variable "account_id" {
  description = "Account whose services may publish to the topic."
  type        = string
}

variable "kms_key_arn" {
  description = "Customer managed key that encrypts the topic."
  type        = string
}

variable "publisher_service_principals" {
  description = "AWS services of this account that may publish to the topic. Grant each of them the topic key too (module kms, sns_publisher_principals)."
  type        = list(string)
  default     = ["cloudwatch.amazonaws.com", "backup.amazonaws.com", "budgets.amazonaws.com"]
}

variable "email_addresses" {
  description = "Emails subscribed to the topic."
  type        = list(string)
  default     = []
}

variable "aurora_cluster_ids" {
  description = "Aurora clusters to watch (writer CPU, memory, connections, local storage)."
  type        = list(string)
  default     = []
}

variable "aurora_reader_instance_ids" {
  description = "Aurora readers to watch for replica lag."
  type        = list(string)
  default     = []
}

variable "dynamodb_table_names" {
  description = "DynamoDB tables to watch for throttling and system errors."
  type        = list(string)
  default     = []
}

variable "backup_vault_name" {
  description = "Vault whose failed backup jobs raise an alarm; null for none."
  type        = string
  default     = null
}

variable "drill_env" {
  description = "Env whose weekly dbops drills are watched (DrillFailed, DrillRuns, DrillInconclusive in namespace dbops); null for none."
  type        = string
  default     = null
}

variable "drill_kinds" {
  description = "Kinds of dbops drill that must reach a verdict every week (an alarm each when drill_env is set)."
  type        = list(string)
  default     = ["failover", "restore"]

  validation {
    condition     = alltrue([for k in var.drill_kinds : contains(["failover", "restore"], k)])
    error_message = "The drill_kinds may hold failover and restore: the drills that publish DrillRuns."
  }
}

variable "event_rule_names" {
  description = "EventBridge rules (the drill-runner module's rule_names) whose failed invocations raise an alarm: a scheduled drill or check that never started."
  type        = list(string)
  default     = []
}

variable "replica_lag_ms" {
  description = "Replica lag alarm threshold in milliseconds."
  type        = number
  default     = 100
}

variable "cpu_percent" {
  description = "Writer CPU alarm threshold in percent (1 to 100)."
  type        = number
  default     = 80

  validation {
    condition     = var.cpu_percent > 0 && var.cpu_percent <= 100
    error_message = "The cpu_percent must be between 1 and 100."
  }
}

variable "freeable_memory_mib" {
  description = "Alarm when the writer's freeable memory falls below this many MiB."
  type        = number
  default     = 256
}

variable "max_connections" {
  description = "Alarm when connections exceed this many."
  type        = number
  default     = 400
}

variable "free_local_storage_gib" {
  description = "Alarm when free local storage falls below this many GiB."
  type        = number
  default     = 2
}

variable "throttle_events" {
  description = "Alarm when throttle events per minute exceed this many for 5 minutes."
  type        = number
  default     = 10
}

variable "tags" {
  description = "Tags for the topic and the alarms."
  type        = map(string)
  default     = {}
}
