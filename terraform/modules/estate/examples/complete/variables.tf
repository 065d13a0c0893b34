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

variable "vpc_id" {
  description = "VPC of the Aurora cluster."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the Aurora cluster, in at least two AZs."
  type        = list(string)
}

variable "availability_zones" {
  description = "AZs the writer and the reader spread over."
  type        = list(string)
  default     = ["eu-west-1a", "eu-west-1b"]
}

variable "app_security_group_ids" {
  description = "Security groups of the applications that connect to Aurora."
  type        = list(string)
  default     = []
}

variable "aurora_master_password" {
  description = "Master password (pass it as TF_VAR_aurora_master_password from a secret store)."
  type        = string
  sensitive   = true
}

variable "alarm_emails" {
  description = "On-call emails subscribed to the alarm topic."
  type        = list(string)
  default     = ["oncall@example.com"]
}

variable "budget_emails" {
  description = "Emails notified by the budget."
  type        = list(string)
  default     = ["finance@example.com"]
}
