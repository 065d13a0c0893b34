variable "name" {
  description = "Budget name."
  type        = string
}

variable "account_id" {
  description = "Account the budget belongs to (explicit so it works without account lookups)."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "The account_id must be 12 digits."
  }
}

variable "monthly_limit_usd" {
  description = "Monthly cost budget in USD."
  type        = number
  default     = 80

  validation {
    condition     = var.monthly_limit_usd > 0
    error_message = "The monthly_limit_usd must be positive."
  }
}

variable "time_period_start" {
  description = "When the budget starts (YYYY-MM-DD_hh:mm)."
  type        = string
  default     = "2026-01-01_00:00"
}

variable "email_addresses" {
  description = "Emails notified at 80% and 100% actual and 100% forecasted."
  type        = list(string)
  default     = []
}

variable "sns_topic_arn" {
  description = "Topic notified as well; null for none."
  type        = string
  default     = null

  validation {
    condition     = var.sns_topic_arn == null || can(regex("^arn:", coalesce(var.sns_topic_arn, "arn:")))
    error_message = "The sns_topic_arn must be an ARN."
  }
}
