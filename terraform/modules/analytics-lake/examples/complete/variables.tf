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
