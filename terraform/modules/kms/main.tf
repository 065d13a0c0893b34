data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name
  root_arn  = "arn:${local.partition}:iam::${var.account_id}:root"

  service_statements = length(var.service_principals) == 0 ? [] : [{
    Sid       = "AllowUseByServices"
    Effect    = "Allow"
    Principal = { Service = var.service_principals }
    Action    = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey", "kms:CreateGrant"]
    Resource  = "*"
    Condition = { StringEquals = { "kms:CallerAccount" = var.account_id } }
  }]

  # A service that publishes to an SNS topic encrypted with this key (CloudWatch alarm
  # actions, Budgets notifications, AWS Backup vault events) needs GenerateDataKey* and
  # Decrypt on the key itself, or SNS drops its messages without an error anywhere. SNS
  # puts the topic ARN in the encryption context, so the grant is limited to topics of
  # this account ("Enable compatibility between event sources from AWS services and
  # encrypted topics", Amazon SNS developer guide).
  sns_publisher_statements = length(var.sns_publisher_principals) == 0 ? [] : [{
    Sid       = "AllowServicesToPublishToEncryptedTopics"
    Effect    = "Allow"
    Principal = { Service = var.sns_publisher_principals }
    Action    = ["kms:GenerateDataKey*", "kms:Decrypt"]
    Resource  = "*"
    Condition = { ArnLike = { "kms:EncryptionContext:aws:sns:topicArn" = "arn:${local.partition}:sns:*:${var.account_id}:*" } }
  }]

  # CloudWatch Logs encrypts a log group with a CMK only if the key policy lets the
  # regional logs principal use it for log groups of this account (CloudWatch Logs user
  # guide, "Encrypt log data in CloudWatch Logs using AWS KMS").
  cloudwatch_logs_statements = var.allow_cloudwatch_logs ? [{
    Sid       = "AllowCloudWatchLogs"
    Effect    = "Allow"
    Principal = { Service = "logs.${local.region}.amazonaws.com" }
    Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    Resource  = "*"
    Condition = { ArnLike = { "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${local.region}:${var.account_id}:log-group:*" } }
  }] : []

  policy = {
    Version = "2012-10-17"
    Statement = concat([{
      Sid       = "AccountRootAdministers"
      Effect    = "Allow"
      Principal = { AWS = local.root_arn }
      Action    = "kms:*"
      Resource  = "*"
    }], local.service_statements, local.sns_publisher_statements, local.cloudwatch_logs_statements)
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
