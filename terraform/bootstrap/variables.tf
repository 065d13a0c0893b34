variable "region" {
  description = "Region of the state bucket and lock table."
  type        = string
  default     = "us-east-1"
}
