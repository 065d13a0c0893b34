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

  table = one(concat(aws_dynamodb_table.this, aws_dynamodb_table.provisioned))
}

# Two resources with the same body, because lifecycle cannot depend on a variable: an
# on-demand table keeps every argument under Terraform; a provisioned one leaves its
# capacities to autoscaling (terraform-aws-modules/dynamodb-table does the same with its
# "autoscaled" table).

resource "aws_dynamodb_table" "this" {
  #checkov:skip=CKV2_AWS_16:this resource is only the on-demand (PAY_PER_REQUEST) table, which scales by itself; provisioned tables are aws_dynamodb_table.provisioned, with autoscaling
  count = local.provisioned ? 0 : 1

  name             = var.name
  billing_mode     = "PAY_PER_REQUEST"
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
}

resource "aws_dynamodb_table" "provisioned" {
  count = local.provisioned ? 1 : 0

  name             = var.name
  billing_mode     = "PROVISIONED"
  read_capacity    = var.read_capacity
  write_capacity   = var.write_capacity
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
      read_capacity   = var.read_capacity
      write_capacity  = var.write_capacity
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
    # the starting point. A GSI's capacity sits inside the global_secondary_index set, so
    # the whole set is ignored: add or remove an index of a provisioned table with
    # UpdateTable, then record it in global_secondary_indexes.
    ignore_changes = [read_capacity, write_capacity, global_secondary_index]
  }
}

resource "aws_appautoscaling_target" "this" {
  for_each = local.scaled

  service_namespace  = "dynamodb"
  resource_id        = each.value.index == null ? "table/${aws_dynamodb_table.provisioned[0].name}" : "table/${aws_dynamodb_table.provisioned[0].name}/index/${each.value.index}"
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
