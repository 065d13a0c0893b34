locals {
  notifications = {
    actual-80      = { threshold = 80, type = "ACTUAL" }
    actual-100     = { threshold = 100, type = "ACTUAL" }
    forecasted-100 = { threshold = 100, type = "FORECASTED" }
  }
}

resource "aws_budgets_budget" "this" {
  name              = var.name
  account_id        = var.account_id
  budget_type       = "COST"
  limit_amount      = format("%.2f", var.monthly_limit_usd)
  limit_unit        = "USD"
  time_unit         = "MONTHLY"
  time_period_start = var.time_period_start

  dynamic "notification" {
    for_each = local.notifications
    content {
      comparison_operator        = "GREATER_THAN"
      threshold                  = notification.value.threshold
      threshold_type             = "PERCENTAGE"
      notification_type          = notification.value.type
      subscriber_email_addresses = var.email_addresses
      subscriber_sns_topic_arns  = var.sns_topic_arn == null ? [] : [var.sns_topic_arn]
    }
  }
}
