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
  description = "VPC of the cluster and the proxy."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the cluster and the proxy, in at least two AZs."
  type        = list(string)
}

variable "availability_zones" {
  description = "AZs of the writer and the reader, in order."
  type        = list(string)
  default     = ["eu-west-1a", "eu-west-1b"]
}

variable "app_security_group_ids" {
  description = "Security groups of the applications that connect through the proxy (and directly to the cluster)."
  type        = list(string)
  default     = []
}

variable "allowed_cidr_blocks" {
  description = "CIDR blocks that may connect to the proxy."
  type        = list(string)
  default     = ["10.0.0.0/16"]
}

variable "iam_auth" {
  description = "DISABLED (password logins with the master credentials) or REQUIRED (IAM tokens only)."
  type        = string
  default     = "DISABLED"
}

variable "master_password" {
  description = "Master password (pass it as TF_VAR_master_password from a secret store; at least 16 characters)."
  type        = string
  sensitive   = true
}
