data "aws_partition" "current" {}

locals {
  policy_prefix = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role"
}

resource "aws_backup_vault" "this" {
  name        = var.name
  kms_key_arn = var.kms_key_arn
  tags        = var.tags
}

resource "aws_backup_plan" "this" {
  name = var.name

  rule {
    rule_name         = "daily"
    target_vault_name = aws_backup_vault.this.name
    schedule          = var.daily_schedule
    start_window      = 60
    completion_window = 360

    lifecycle {
      delete_after = var.retention_days
    }

    recovery_point_tags = var.tags
  }

  dynamic "rule" {
    for_each = var.continuous_backup ? [1] : []
    content {
      rule_name                = "continuous"
      target_vault_name        = aws_backup_vault.this.name
      schedule                 = var.daily_schedule
      enable_continuous_backup = true

      lifecycle {
        delete_after = min(var.retention_days, 35)
      }

      recovery_point_tags = var.tags
    }
  }

  tags = var.tags
}

resource "aws_iam_role" "this" {
  name = "${var.name}-backup"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "backup.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "this" {
  for_each = toset(["AWSBackupServiceRolePolicyForBackup", "AWSBackupServiceRolePolicyForRestores"])

  role       = aws_iam_role.this.name
  policy_arn = "${local.policy_prefix}/${each.value}"
}

resource "aws_backup_selection" "this" {
  name         = "${var.name}-by-tag"
  plan_id      = aws_backup_plan.this.id
  iam_role_arn = aws_iam_role.this.arn

  selection_tag {
    type  = "STRINGEQUALS"
    key   = var.selection_tag_key
    value = var.selection_tag_value
  }
}

# AWS Backup no longer sends BACKUP_JOB_FAILED, RESTORE_JOB_FAILED, BACKUP_JOB_SUCCESSFUL,
# BACKUP_JOB_EXPIRED or RESTORE_JOB_SUCCESSFUL: the API reference of
# PutBackupVaultNotifications still accepts them but lists them as deprecated events that
# "do not return statuses or notifications". A failed job is now a BACKUP_JOB_COMPLETED or
# RESTORE_JOB_COMPLETED event whose State message attribute is FAILED, ABORTED, EXPIRED or
# PARTIAL; subscribers keep only those with a filter policy on State (module monitoring
# does this for its email subscriptions).
resource "aws_backup_vault_notifications" "this" {
  count = var.notify_failed_jobs ? 1 : 0

  backup_vault_name   = aws_backup_vault.this.name
  sns_topic_arn       = var.sns_topic_arn
  backup_vault_events = var.notification_events
}
