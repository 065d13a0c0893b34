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
  tags = { example = "dynamodb-table-complete", "managed-by" = "dbops" }
}

module "kms" {
  source = "../../../kms"

  alias              = "dbops-example-dynamodb"
  account_id         = var.account_id
  service_principals = ["dynamodb.amazonaws.com"]
  tags               = local.tags
}

# On-demand (the module's default): a key, a sort key, one GSI and a stream.
module "orders" {
  source = "../../"

  name      = "dbops-example-orders"
  hash_key  = "pk"
  range_key = "sk"
  attributes = [
    { name = "pk", type = "S" },
    { name = "sk", type = "S" },
    { name = "customer_id", type = "S" },
  ]
  global_secondary_indexes = [
    { name = "by-customer", hash_key = "customer_id", range_key = "sk", projection_type = "ALL" },
  ]
  stream_view_type = "NEW_AND_OLD_IMAGES"
  kms_key_arn      = module.kms.key_arn
  tags             = local.tags
}

# Provisioned: the table and its GSI autoscale between 5 and 50 units at 70% utilisation;
# Terraform leaves the capacities autoscaling sets alone.
module "events" {
  source = "../../"

  name         = "dbops-example-events"
  billing_mode = "PROVISIONED"
  hash_key     = "device_id"
  range_key    = "at"
  attributes = [
    { name = "device_id", type = "S" },
    { name = "at", type = "N" },
    { name = "kind", type = "S" },
  ]
  global_secondary_indexes = [
    { name = "by-kind", hash_key = "kind", range_key = "at", projection_type = "KEYS_ONLY" },
  ]
  ttl_attribute              = "expires_at"
  read_capacity              = 5
  write_capacity             = 5
  autoscaling_max_read       = 50
  autoscaling_max_write      = 50
  autoscaling_target_percent = 70
  kms_key_arn                = module.kms.key_arn
  tags                       = local.tags
}
