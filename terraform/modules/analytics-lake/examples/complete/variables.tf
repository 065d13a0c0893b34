variable "region" {
  description = "AWS region of the example."
  type        = string
  default     = "eu-west-1"
}

variable "account_id" {
  description = "AWS account id the example runs in (12 digits)."
  type        = string
}

variable "offline" {
  description = "Plan without reaching AWS: skips the provider's credential, account and metadata checks."
  type        = bool
  default     = false
}

variable "bytes_scanned_cutoff_per_query" {
  description = "Bytes one Athena query of the lake may scan before Athena cancels it."
  type        = number
  default     = 1073741824 # 1 GiB
}

variable "transient_expiration_days" {
  description = "Days before staging objects and Athena results expire."
  type        = number
  default     = 3
}

variable "export_expiration_days" {
  description = "Days before the pipelines' DynamoDB export files expire."
  type        = number
  default     = 7
}

variable "quarantine_expiration_days" {
  description = "Days before the pipelines' quarantined batches expire."
  type        = number
  default     = 30
}
