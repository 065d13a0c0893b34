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
  description = "Send the vault's job events (notification_events) to sns_topic_arn."
  type        = bool
  default     = false
}

variable "notification_events" {
  description = "Vault events sent to sns_topic_arn. Job outcomes arrive as *_COMPLETED events with a State message attribute; the deprecated *_FAILED/*_SUCCESSFUL/*_EXPIRED backup and restore events are refused."
  type        = list(string)
  default     = ["BACKUP_JOB_COMPLETED", "RESTORE_JOB_COMPLETED", "COPY_JOB_FAILED"]

  validation {
    condition = length(var.notification_events) > 0 && alltrue([for e in var.notification_events : contains([
      "BACKUP_JOB_STARTED", "BACKUP_JOB_COMPLETED",
      "COPY_JOB_STARTED", "COPY_JOB_SUCCESSFUL", "COPY_JOB_FAILED",
      "RESTORE_JOB_STARTED", "RESTORE_JOB_COMPLETED",
      "RECOVERY_POINT_MODIFIED",
      "S3_BACKUP_OBJECT_FAILED", "S3_RESTORE_OBJECT_FAILED",
    ], e)])
    error_message = "The notification_events must be events AWS Backup still sends (BACKUP_JOB_COMPLETED, RESTORE_JOB_COMPLETED, COPY_JOB_FAILED, ...), not the deprecated BACKUP_JOB_FAILED or RESTORE_JOB_FAILED."
  }
}

variable "sns_topic_arn" {
  description = "Topic that receives the vault events when notify_failed_jobs is set."
  type        = string
  default     = ""
}

variable "tags" {
  description = "Tags for the vault, the plan, the role and the recovery points."
  type        = map(string)
  default     = {}
}
