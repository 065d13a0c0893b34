variable "alias" {
  description = "Alias of the key, without the alias/ prefix."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9/_-]+$", var.alias)) && !can(regex("^aws/", var.alias))
    error_message = "The alias must be letters, digits, /, _ or - and must not start with aws/."
  }
}

variable "description" {
  description = "Description of the key."
  type        = string
  default     = "dbops customer managed key"
}

variable "account_id" {
  description = "AWS account id whose root administers the key."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "The account_id must be 12 digits."
  }
}

variable "service_principals" {
  description = "AWS services allowed to use the key in this account (e.g. rds.amazonaws.com)."
  type        = list(string)
  default     = []
}

variable "sns_publisher_principals" {
  description = "AWS services that publish to SNS topics encrypted with this key (e.g. cloudwatch.amazonaws.com, budgets.amazonaws.com): they may generate and decrypt data keys for topics of this account only."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for p in var.sns_publisher_principals : can(regex("^[a-z0-9.-]+\\.amazonaws\\.com$", p))])
    error_message = "Each sns_publisher_principals entry must be a service principal such as cloudwatch.amazonaws.com."
  }
}

variable "allow_cloudwatch_logs" {
  description = "Let CloudWatch Logs in the provider's region encrypt this account's log groups with the key."
  type        = bool
  default     = false
}

variable "deletion_window_in_days" {
  description = "Days before a scheduled key deletion takes effect."
  type        = number
  default     = 30

  validation {
    condition     = var.deletion_window_in_days >= 7 && var.deletion_window_in_days <= 30
    error_message = "The deletion_window_in_days must be between 7 and 30."
  }
}

variable "tags" {
  description = "Tags for the key."
  type        = map(string)
  default     = {}
}
