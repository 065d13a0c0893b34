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
