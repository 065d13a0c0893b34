terraform {
  required_version = ">= 1.2" # lifecycle preconditions

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 3.39.0"
    }
  }
}
