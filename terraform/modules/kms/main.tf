data "aws_partition" "current" {}

locals {
  root_arn = "arn:${data.aws_partition.current.partition}:iam::${var.account_id}:root"

  service_statements = length(var.service_principals) == 0 ? [] : [{
    Sid       = "AllowUseByServices"
    Effect    = "Allow"
    Principal = { Service = var.service_principals }
    Action    = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey", "kms:CreateGrant"]
    Resource  = "*"
    Condition = { StringEquals = { "kms:CallerAccount" = var.account_id } }
  }]

  policy = {
    Version = "2012-10-17"
    Statement = concat([{
      Sid       = "AccountRootAdministers"
      Effect    = "Allow"
      Principal = { AWS = local.root_arn }
      Action    = "kms:*"
      Resource  = "*"
    }], local.service_statements)
  }
}

resource "aws_kms_key" "this" {
  description             = var.description
  enable_key_rotation     = true
  deletion_window_in_days = var.deletion_window_in_days
  policy                  = jsonencode(local.policy)
  tags                    = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.alias}"
  target_key_id = aws_kms_key.this.key_id
}
