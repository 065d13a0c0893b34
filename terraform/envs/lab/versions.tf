terraform {
  required_version = ">= 1.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 3.39.0"
    }
  }

  # State lives in the lab dir: `dbops tf` passes -backend-config=path=.lab/terraform/lab/terraform.tfstate.
  backend "local" {}
}
