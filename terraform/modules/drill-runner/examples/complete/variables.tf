variable "region" {
  description = "AWS region of the example."
  type        = string
  default     = "eu-west-1"
}

variable "account_id" {
  description = "AWS account id the example runs in (12 digits); the image is in its ECR."
  type        = string
}

variable "offline" {
  description = "Plan without reaching AWS: skips the provider's credential, account and metadata checks."
  type        = bool
  default     = false
}

variable "image_digest" {
  description = "Digest of the dbops image in the account's ECR repository dbops (sha256:...)."
  type        = string
  default     = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
}

variable "vpc_id" {
  description = "VPC of the Aurora cluster."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the tasks (with a NAT gateway or VPC endpoints to AWS APIs)."
  type        = list(string)
}

variable "db_security_group_id" {
  description = "Security group of the Aurora cluster the drills connect to."
  type        = string
  default     = null
}

variable "window_days" {
  description = "Days of the weekly window (UTC), as in dbops.toml [envs.prod.schedule] days; null for an env without a window (then give drill_schedule)."
  type        = list(string)
  default     = ["SUN"]
}

variable "window_start" {
  description = "Start of the window, HH:MM UTC."
  type        = string
  default     = "01:00"
}

variable "window_hours" {
  description = "Length of the window in hours."
  type        = number
  default     = 4
}

variable "drill_schedule" {
  description = "For an env without a window (window_days = null): when the weekly drill runs, an EventBridge schedule expression."
  type        = string
  default     = null
}

variable "cpu" {
  description = "Fargate CPU units of a runner task."
  type        = number
  default     = 512
}

variable "memory" {
  description = "Memory of a runner task in MiB."
  type        = number
  default     = 1024
}
