variable "name" {
  description = "Name of the vault, the plan and the prefix of the role."
  type        = string
}

variable "kms_key_arn" {
  description = "Customer managed key that encrypts the vault's recovery points."
  type        = string
}

variable "retention_days" {
  description = "Days a daily recovery point is kept (1 to 35 with continuous backup; up to 36500 otherwise)."
  type        = number
  default     = 7

  validation {
    condition     = var.retention_days >= 1 && var.retention_days <= 36500
    error_message = "The retention_days must be between 1 and 36500."
  }
}

variable "daily_schedule" {
  description = "Schedule of the daily rule (UTC cron)."
  type        = string
  default     = "cron(0 5 * * ? *)"
}

variable "continuous_backup" {
  description = "Add a continuous-backup rule (point-in-time restore from AWS Backup) for Aurora."
  type        = bool
  default     = false
}

variable "selection_tag_key" {
  description = "Tag key that puts a resource under the plan."
  type        = string
  default     = "backup"
}

variable "selection_tag_value" {
  description = "Tag value that puts a resource under the plan."
  type        = string
  default     = "dbops"
}

variable "notify_failed_jobs" {
  description = "Notify sns_topic_arn of failed backup and restore jobs."
  type        = bool
  default     = false
}

variable "sns_topic_arn" {
  description = "Topic notified of failed backup and restore jobs when notify_failed_jobs is set."
  type        = string
  default     = ""
}

variable "tags" {
  description = "Tags for the vault, the plan, the role and the recovery points."
  type        = map(string)
  default     = {}
}
