provider "aws" {
  region = var.region

  # offline = true plans without an AWS account: no credential check, no account id
  # lookup, no instance metadata, and no retries of the one call provider 3.x still makes
  # when it starts (EC2 DescribeAccountAttributes), which then fails at once and is only
  # logged. Leave it false to apply.
  skip_credentials_validation = var.offline
  skip_requesting_account_id  = var.offline
  skip_metadata_api_check     = var.offline
  max_retries                 = var.offline ? 0 : null
}

locals {
  tags = { example = "analytics-lake-complete", "managed-by" = "dbops" }
}

module "lake" {
  source = "../../"

  name                           = "dbops-example-lake"
  account_id                     = var.account_id
  bucket_name                    = "dbops-example-lake-${var.account_id}"
  database_name                  = "dbops_example_lake"
  export_table_arns              = ["arn:aws:dynamodb:${var.region}:${var.account_id}:table/orders"]
  bytes_scanned_cutoff_per_query = var.bytes_scanned_cutoff_per_query
  transient_expiration_days      = var.transient_expiration_days
  pipeline_prefixes              = ["lake/orders", "lake/sessions"]
  export_expiration_days         = var.export_expiration_days
  quarantine_expiration_days     = var.quarantine_expiration_days
  key_deletion_window_in_days    = 7
  force_destroy                  = true
  tags                           = local.tags
}
