variable "aws_endpoint" {
  description = "URL of the embedded AWS emulator (set by `dbops tf` from the running lab)."
  type        = string

  validation {
    condition     = can(regex("^https?://", var.aws_endpoint))
    error_message = "The aws_endpoint value must be an http(s) URL."
  }
}

variable "region" {
  description = "AWS region the lab pretends to be in."
  type        = string
  default     = "us-east-1"
}
