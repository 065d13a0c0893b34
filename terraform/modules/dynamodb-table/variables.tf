variable "name" {
  description = "Table name."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{3,255}$", var.name))
    error_message = "The name must be 3 to 255 letters, digits, _, . or -."
  }
}

variable "billing_mode" {
  description = "PAY_PER_REQUEST (on-demand) or PROVISIONED (with autoscaling)."
  type        = string
  default     = "PAY_PER_REQUEST"

  validation {
    condition     = contains(["PAY_PER_REQUEST", "PROVISIONED"], var.billing_mode)
    error_message = "The billing_mode must be PAY_PER_REQUEST or PROVISIONED."
  }
}

variable "hash_key" {
  description = "Partition key attribute name."
  type        = string
}

variable "range_key" {
  description = "Sort key attribute name, or null."
  type        = string
  default     = null
}

variable "attributes" {
  description = "Key attributes of the table and its indexes: name and type (S, N or B)."
  type = list(object({
    name = string
    type = string
  }))

  validation {
    condition     = alltrue([for a in var.attributes : contains(["S", "N", "B"], a.type)])
    error_message = "Each attribute type must be S, N or B."
  }
}

variable "global_secondary_indexes" {
  description = "GSIs: name, hash_key, range_key (or null), projection_type (ALL, KEYS_ONLY)."
  type = list(object({
    name            = string
    hash_key        = string
    range_key       = string
    projection_type = string
  }))
  default = []
}

variable "ttl_attribute" {
  description = "Attribute holding the expiry epoch; null disables TTL."
  type        = string
  default     = null
}

variable "stream_view_type" {
  description = "Stream view type (KEYS_ONLY, NEW_IMAGE, OLD_IMAGE, NEW_AND_OLD_IMAGES); null disables streams."
  type        = string
  default     = null

  validation {
    condition     = var.stream_view_type == null || contains(["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"], coalesce(var.stream_view_type, "KEYS_ONLY"))
    error_message = "The stream_view_type must be KEYS_ONLY, NEW_IMAGE, OLD_IMAGE or NEW_AND_OLD_IMAGES."
  }
}

variable "point_in_time_recovery" {
  description = "Continuous backups with point-in-time recovery."
  type        = bool
  default     = true
}

variable "kms_key_arn" {
  description = "Customer managed key for server-side encryption."
  type        = string
}

variable "read_capacity" {
  description = "Provisioned read capacity (and autoscaling minimum)."
  type        = number
  default     = 5
}

variable "write_capacity" {
  description = "Provisioned write capacity (and autoscaling minimum)."
  type        = number
  default     = 5
}

variable "autoscaling_max_read" {
  description = "Autoscaling maximum read capacity."
  type        = number
  default     = 100
}

variable "autoscaling_max_write" {
  description = "Autoscaling maximum write capacity."
  type        = number
  default     = 100
}

variable "autoscaling_target_percent" {
  description = "Target utilisation for autoscaling (20 to 90)."
  type        = number
  default     = 70

  validation {
    condition     = var.autoscaling_target_percent >= 20 && var.autoscaling_target_percent <= 90
    error_message = "The autoscaling_target_percent must be between 20 and 90."
  }
}

variable "backup_tags" {
  description = "Tags that put the table under an AWS Backup selection."
  type        = map(string)
  default     = { backup = "dbops" }
}

variable "tags" {
  description = "Tags for the table."
  type        = map(string)
  default     = {}
}
