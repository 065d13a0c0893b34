locals {
  provisioned = var.billing_mode == "PROVISIONED"

  # Autoscaled dimensions when provisioned: the table's, and each GSI's within the table's
  # limits.
  table_dimensions = {
    read  = { index = null, dimension = "ReadCapacityUnits", metric = "DynamoDBReadCapacityUtilization", min = var.read_capacity, max = var.autoscaling_max_read }
    write = { index = null, dimension = "WriteCapacityUnits", metric = "DynamoDBWriteCapacityUtilization", min = var.write_capacity, max = var.autoscaling_max_write }
  }
  index_dimensions = merge([
    for g in var.global_secondary_indexes : {
      for k, d in local.table_dimensions : "index-${g.name}-${k}" => merge(d, { index = g.name })
    }
  ]...)
  scaled = local.provisioned ? merge(local.table_dimensions, local.index_dimensions) : {}

}

# One table whatever its billing mode, so switching billing_mode is an in-place UpdateTable,
# never a new table. lifecycle cannot depend on a variable, so the capacities autoscaling
# moves are ignored on every table: an on-demand table has none to ignore, and a GSI's
# capacity sits inside the global_secondary_index set, so the whole set is ignored too.

resource "aws_dynamodb_table" "this" {
  #checkov:skip=CKV2_AWS_16:a PAY_PER_REQUEST table scales by itself; a PROVISIONED one gets the aws_appautoscaling_target and policy below

  name             = var.name
  billing_mode     = var.billing_mode
  read_capacity    = local.provisioned ? var.read_capacity : null
  write_capacity   = local.provisioned ? var.write_capacity : null
  hash_key         = var.hash_key
  range_key        = var.range_key
  stream_enabled   = var.stream_view_type != null
  stream_view_type = var.stream_view_type

  dynamic "attribute" {
    for_each = var.attributes
    content {
      name = attribute.value.name
      type = attribute.value.type
    }
  }

  dynamic "global_secondary_index" {
    for_each = var.global_secondary_indexes
    content {
      name            = global_secondary_index.value.name
      hash_key        = global_secondary_index.value.hash_key
      range_key       = global_secondary_index.value.range_key
      projection_type = global_secondary_index.value.projection_type
      read_capacity   = local.provisioned ? var.read_capacity : null
      write_capacity  = local.provisioned ? var.write_capacity : null
    }
  }

  dynamic "ttl" {
    for_each = var.ttl_attribute == null ? [] : [var.ttl_attribute]
    content {
      enabled        = true
      attribute_name = ttl.value
    }
  }

  point_in_time_recovery {
    enabled = var.point_in_time_recovery
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = merge(var.tags, var.backup_tags)

  lifecycle {
    # Autoscaling moves the table's and every GSI's capacity: the values above are only
    # the starting point of a table created PROVISIONED. Add or remove an index with
    # UpdateTable, then record it in global_secondary_indexes.
    ignore_changes = [read_capacity, write_capacity, global_secondary_index]
  }
}

resource "aws_appautoscaling_target" "this" {
  for_each = local.scaled

  service_namespace  = "dynamodb"
  resource_id        = each.value.index == null ? "table/${aws_dynamodb_table.this.name}" : "table/${aws_dynamodb_table.this.name}/index/${each.value.index}"
  scalable_dimension = "dynamodb:${each.value.index == null ? "table" : "index"}:${each.value.dimension}"
  min_capacity       = each.value.min
  max_capacity       = each.value.max
}

resource "aws_appautoscaling_policy" "this" {
  for_each = local.scaled

  name               = "${var.name}-${each.key}"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this[each.key].service_namespace
  resource_id        = aws_appautoscaling_target.this[each.key].resource_id
  scalable_dimension = aws_appautoscaling_target.this[each.key].scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value = var.autoscaling_target_percent
    predefined_metric_specification {
      predefined_metric_type = each.value.metric
    }
  }
}
