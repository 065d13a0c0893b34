# The lab targets the embedded AWS emulator started by `dbops lab up`; `dbops tf` passes
# its URL as TF_VAR_aws_endpoint. The emulator accepts any credentials.
provider "aws" {
  region                      = var.region
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  # The emulator serves every bucket on its one host: path-style requests, not BUCKET.HOST.
  s3_force_path_style = true

  endpoints {
    athena           = var.aws_endpoint
    backup           = var.aws_endpoint
    budgets          = var.aws_endpoint
    cloudwatch       = var.aws_endpoint
    cloudwatchevents = var.aws_endpoint
    cloudwatchlogs   = var.aws_endpoint
    dynamodb         = var.aws_endpoint
    ec2              = var.aws_endpoint
    ecs              = var.aws_endpoint
    glue             = var.aws_endpoint
    iam              = var.aws_endpoint
    kms              = var.aws_endpoint
    rds              = var.aws_endpoint
    s3               = var.aws_endpoint
    secretsmanager   = var.aws_endpoint
    sns              = var.aws_endpoint
    sts              = var.aws_endpoint
  }
}
