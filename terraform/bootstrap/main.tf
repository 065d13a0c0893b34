# The state backend of the non-lab envs: a versioned, KMS-encrypted, private, TLS-only S3
# bucket and a DynamoDB lock table. Applied once per account with local state.

data "aws_caller_identity" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  bucket     = "dbops-tfstate-${local.account_id}"
}

module "kms" {
  source = "../modules/kms"

  alias              = "dbops-tfstate"
  description        = "Encrypts dbops Terraform state and its lock table"
  account_id         = local.account_id
  service_principals = ["s3.amazonaws.com", "dynamodb.amazonaws.com"]
}

resource "aws_s3_bucket" "state" {
  #checkov:skip=CKV_AWS_18:access logging needs a second bucket; CloudTrail data events cover state access
  #checkov:skip=CKV_AWS_144:cross-region replication of state is a disaster-recovery choice left to the account
  #checkov:skip=CKV2_AWS_62:nothing consumes state-change events
  bucket = local.bucket

  # Every env's state: Terraform refuses any plan that would delete it (a root module can say so
  # here; resources inside modules cannot, lifecycle arguments being static per resource).
  lifecycle {
    prevent_destroy = true
  }

  versioning {
    enabled = true
  }

  server_side_encryption_configuration {
    rule {
      apply_server_side_encryption_by_default {
        sse_algorithm     = "aws:kms"
        kms_master_key_id = module.kms.key_arn
      }
      bucket_key_enabled = true
    }
  }

  lifecycle_rule {
    id                                     = "old-state-versions"
    enabled                                = true
    abort_incomplete_multipart_upload_days = 7

    noncurrent_version_expiration {
      days = 90
    }
  }
}

resource "aws_s3_bucket_public_access_block" "state" {
  bucket                  = aws_s3_bucket.state.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_policy" "state" {
  bucket = aws_s3_bucket.state.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "TlsOnly"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [aws_s3_bucket.state.arn, "${aws_s3_bucket.state.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })

  depends_on = [aws_s3_bucket_public_access_block.state]
}

module "lock_table" {
  source = "../modules/dynamodb-table"

  name        = "dbops-tfstate-lock"
  hash_key    = "LockID"
  attributes  = [{ name = "LockID", type = "S" }]
  kms_key_arn = module.kms.key_arn
  backup_tags = {}
}
