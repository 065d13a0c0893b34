# dbops on a schedule, in AWS: an ECS cluster whose Fargate tasks run the dbops image, started
# by EventBridge rules — the weekly drill (scripts/drill-weekly, the image's entrypoint) at the
# start of the window (or at drill_schedule when the env has no window), `dbops schedule apply`
# just before the window and at its end, and every day `backup verify`, `cost check` and, with a
# window, `schedule apply` (AWS starts a stopped Aurora cluster by itself after seven days; the
# daily run stops it again). The task role holds exactly the policy given; the execution role only
# pulls the image and writes the log; the events role only runs these task definitions and passes
# these two roles. The tasks read the env's Terraform outputs from DBOPS_TF_OUTPUTS: they cannot run
# Terraform (no provider mirror in the image, a read-only root, no access to the state).

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name
  tags      = merge(var.tags, { "dbops:runner" = var.name })

  # The image's user (Dockerfile): the tasks run as it even if an image forgets its USER line.
  image_user = "10001:10001"
  # The one writable path of the read-only root file system: reports, JUnit XML, HOME, TMPDIR.
  scratch = "/var/dbops"

  # --- The window, as EventBridge cron expressions (UTC) ---
  windowed = var.window_days != null
  week     = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
  # How early `schedule apply` starts the clusters: ops/window.py's LEAD, within which dbops counts the
  # run as inside the window. Another lead here would have the run judged outside it and stop the clusters.
  start_lead_minutes = 20
  # Without a window the placeholders below are computed and never used.
  window_days  = local.windowed ? var.window_days : []
  start_parts  = split(":", local.windowed ? var.window_start : "00:00")
  start_minute = tonumber(local.start_parts[0]) * 60 + tonumber(local.start_parts[1])
  # Minutes from midnight of a window day; the lead may fall on the day before, the end on the day after.
  lead_minute = local.start_minute - local.start_lead_minutes
  end_minute  = local.start_minute + (local.windowed ? var.window_hours : 0) * 60
  lead_shift  = local.lead_minute < 0 ? -1 : 0
  end_shift   = floor(local.end_minute / 1440)
  lead_days   = [for d in local.window_days : local.week[(index(local.week, d) + local.lead_shift + 7) % 7]]
  end_days    = [for d in local.window_days : local.week[(index(local.week, d) + local.end_shift) % 7]]
  lead_of_day = (local.lead_minute + 1440) % 1440
  end_of_day  = local.end_minute % 1440
  daily_parts = split(":", var.daily_at)

  # The weekly drill: at the window's start, else at drill_schedule (neither is refused by a precondition).
  drill_at = local.windowed ? format("cron(%d %d ? * %s *)", local.start_minute % 60, floor(local.start_minute / 60), local.window_days[0]) : var.drill_schedule

  schedules = merge(
    { "daily" = format("cron(%d %d * * ? *)", tonumber(local.daily_parts[1]), tonumber(local.daily_parts[0])) },
    local.drill_at == null ? {} : { "weekly-drill" = local.drill_at },
    local.windowed ? {
      "window-start" = format("cron(%d %d ? * %s *)", local.lead_of_day % 60, floor(local.lead_of_day / 60), join(",", local.lead_days))
      "window-end"   = format("cron(%d %d ? * %s *)", local.end_of_day % 60, floor(local.end_of_day / 60), join(",", local.end_days))
    } : {},
  )
  descriptions = {
    "weekly-drill" = local.windowed ? "dbops weekly drill of ${var.env} (failover, restore, backup verify, cost check) at the start of its window" : "dbops weekly drill of ${var.env} (failover, restore, backup verify, cost check) at ${coalesce(var.drill_schedule, "no time given")}"
    "window-start" = "dbops schedule apply --env ${var.env}, ${local.start_lead_minutes} minutes before its window: starts the Aurora clusters"
    "window-end"   = "dbops schedule apply --env ${var.env} at the end of its window: stops the Aurora clusters"
    "daily"        = local.windowed ? "dbops backup verify, cost check and schedule apply of ${var.env}, every day" : "dbops backup verify and cost check of ${var.env}, every day"
  }

  # --- What each rule runs: a task definition and the command given to it ---
  confirm        = flatten([for token in var.confirm : ["--confirm", token]])
  schedule_apply = concat(["schedule", "apply", "--env", var.env], flatten([for token in var.schedule_confirm : ["--confirm", token]]))
  targets = merge(
    {
      "daily-backup-verify" = { rule = "daily", task = "dbops", command = concat(["backup", "verify", "--env", var.env, "--publish-metrics"], local.confirm) }
      "daily-cost-check"    = { rule = "daily", task = "dbops", command = concat(["cost", "check", "--env", var.env, "--publish-metrics"], local.confirm) }
    },
    local.drill_at == null ? {} : {
      "weekly-drill" = { rule = "weekly-drill", task = "drill", command = concat([var.env, "--publish-metrics"], local.confirm) }
    },
    local.windowed ? {
      "window-start"         = { rule = "window-start", task = "dbops", command = local.schedule_apply }
      "window-end"           = { rule = "window-end", task = "dbops", command = local.schedule_apply }
      "daily-schedule-apply" = { rule = "daily", task = "dbops", command = local.schedule_apply }
    } : {},
  )

  # Fargate's task sizes: memory (MiB) each cpu value accepts.
  fargate_memory = {
    "256"  = [512, 1024, 2048]
    "512"  = [for gib in range(1, 5) : gib * 1024]
    "1024" = [for gib in range(2, 9) : gib * 1024]
    "2048" = [for gib in range(4, 17) : gib * 1024]
    "4096" = [for gib in range(8, 31) : gib * 1024]
  }

  # drill: the image's entrypoint (scripts/drill-weekly ENV ...); dbops: the dbops command itself.
  # ECS lets a rule override a container's command but not its entrypoint, hence two definitions.
  entry_points = { drill = null, dbops = ["dbops"] }

  # --- Pulling the image: ECR needs permissions, a public registry none ---
  ecr            = regex("^(?:(?P<account>[0-9]{12})\\.dkr\\.ecr\\.(?P<region>[a-z0-9-]+)\\.amazonaws\\.com(?:\\.cn)?/(?P<repository>[^@:]+))?", var.image)
  ecr_repository = local.ecr.account == null ? null : "arn:${local.partition}:ecr:${local.ecr.region}:${local.ecr.account}:repository/${local.ecr.repository}"
}

# Checks of variables taken together. Terraform 1.0 (the oldest this repository supports) has neither
# preconditions nor cross-variable validation: a failed check is tobool() of its message, an error that
# names it at plan time.
locals {
  checked = alltrue([
    (var.window_days == null) == (var.window_start == null) && (var.window_days == null) == (var.window_hours == null)
    ? true : tobool("The window_days, window_start and window_hours are given together (the env's window) or not at all (no window)."),
    (var.window_days == null) != (var.drill_schedule == null)
    ? true : tobool("The drill_schedule is needed when no window is given, and refused with one: the weekly drill runs at the window's start."),
    contains(lookup(local.fargate_memory, tostring(var.cpu), []), var.memory)
    ? true : tobool("The memory must be a size Fargate accepts with the cpu given: 256: 512, 1024, 2048; 512: 1024-4096; 1024: 2048-8192; 2048: 4096-16384; 4096: 8192-30720 (MiB, whole GiB above 512)."),
  ])
}

resource "aws_ecs_cluster" "this" {
  #checkov:skip=CKV_AWS_65:the tasks run minutes a day and publish their verdicts as dbops metrics; Container Insights would bill its metrics all month for them
  name = var.name
  # The checks of variables taken together (locals.checked): evaluated with the cluster, before anything is made.
  tags = merge(local.tags, local.checked ? {} : {})
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/dbops/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = local.tags
}

# --- Roles ---

resource "aws_iam_role" "task" {
  name        = "${var.name}-task"
  description = "What dbops does in ${var.env}: the policy `dbops permissions` prints for the runner's commands"
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Principal = { Service = "ecs-tasks.amazonaws.com" }, Action = "sts:AssumeRole" }]
  })
  tags = local.tags
}

resource "aws_iam_role_policy" "task" {
  name   = "dbops"
  role   = aws_iam_role.task.id
  policy = var.task_policy_json
}

resource "aws_iam_role" "execution" {
  name        = "${var.name}-execution"
  description = "Lets ECS pull the dbops image and write the runner's log"
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Principal = { Service = "ecs-tasks.amazonaws.com" }, Action = "sts:AssumeRole" }]
  })
  tags = local.tags
}

resource "aws_iam_role_policy" "execution" {
  name = "pull-image-write-log"
  role = aws_iam_role.execution.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [{
        Sid      = "WriteTheRunnerLog"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = "${aws_cloudwatch_log_group.this.arn}:*"
      }],
      local.ecr_repository == null ? [] : [
        # GetAuthorizationToken has no resource to scope to (IAM's service authorization reference).
        { Sid = "LogInToEcr", Effect = "Allow", Action = ["ecr:GetAuthorizationToken"], Resource = "*" },
        {
          Sid      = "PullTheImage"
          Effect   = "Allow"
          Action   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
          Resource = local.ecr_repository
        },
      ],
    )
  })
}

resource "aws_iam_role" "events" {
  name        = "${var.name}-events"
  description = "Lets EventBridge start the runner's tasks, and nothing else"
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Principal = { Service = "events.amazonaws.com" }, Action = "sts:AssumeRole" }]
  })
  tags = local.tags
}

resource "aws_iam_role_policy" "events" {
  name = "run-the-runner-tasks"
  role = aws_iam_role.events.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "RunTheRunnerTasks"
        Effect    = "Allow"
        Action    = "ecs:RunTask"
        Resource  = [for t in aws_ecs_task_definition.this : t.arn]
        Condition = { ArnEquals = { "ecs:cluster" = aws_ecs_cluster.this.arn } }
      },
      {
        Sid       = "PassTheTaskRoles"
        Effect    = "Allow"
        Action    = "iam:PassRole"
        Resource  = [aws_iam_role.task.arn, aws_iam_role.execution.arn]
        Condition = { StringEquals = { "iam:PassedToService" = "ecs-tasks.amazonaws.com" } }
      },
    ]
  })
}

# --- Network: out to AWS APIs over HTTPS and to the cluster, nothing in ---

resource "aws_security_group" "this" {
  #checkov:skip=CKV2_AWS_5:attached to the tasks by the EventBridge targets' network_configuration, which checkov does not follow
  name        = var.name
  description = "dbops runner tasks: HTTPS to AWS APIs and PostgreSQL to the cluster, nothing in"
  vpc_id      = var.vpc_id
  tags        = local.tags
}

resource "aws_security_group_rule" "https_out" {
  type              = "egress"
  description       = "HTTPS to AWS APIs (through NAT or VPC endpoints)"
  from_port         = 443
  to_port           = 443
  protocol          = "tcp"
  cidr_blocks       = ["0.0.0.0/0"]
  security_group_id = aws_security_group.this.id
}

resource "aws_security_group_rule" "to_cluster" {
  for_each = var.db_security_group_ids

  type                     = "egress"
  description              = "PostgreSQL from the runner to the cluster"
  from_port                = var.db_port
  to_port                  = var.db_port
  protocol                 = "tcp"
  source_security_group_id = each.value
  security_group_id        = aws_security_group.this.id
}

# The cluster's own group must let the drills in.
resource "aws_security_group_rule" "cluster_from_runner" {
  for_each = var.db_security_group_ids

  type                     = "ingress"
  description              = "PostgreSQL from the dbops runner ${var.name}"
  from_port                = var.db_port
  to_port                  = var.db_port
  protocol                 = "tcp"
  source_security_group_id = aws_security_group.this.id
  security_group_id        = each.value
}

# --- Tasks ---

resource "aws_ecs_task_definition" "this" {
  for_each = local.entry_points

  family                   = "${var.name}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.cpu)
  memory                   = tostring(var.memory)
  task_role_arn            = aws_iam_role.task.arn
  execution_role_arn       = aws_iam_role.execution.arn

  # Task storage, writable by the image's user (the Dockerfile makes the path its own).
  volume {
    name = "scratch"
  }

  # No secret in here: the drills read the master secret from Secrets Manager when they run.
  container_definitions = jsonencode([merge(
    {
      name                   = "dbops"
      image                  = var.image
      essential              = true
      user                   = local.image_user
      readonlyRootFilesystem = true
      privileged             = false
      environment = [
        # The env's Terraform outputs: names, ARNs and endpoints (never a secret value), read in place of Terraform's.
        { name = "DBOPS_TF_OUTPUTS", value = var.env_outputs_json },
        { name = "DBOPS_TF_OUTPUTS_ENV", value = var.env },
        { name = "FAILOVER_TARGET", value = var.failover_target },
        { name = "RESTORE_TARGET", value = var.restore_target },
        { name = "DBOPS_REPORT_DIR", value = "${local.scratch}/reports" },
        { name = "JUNIT_DIR", value = "${local.scratch}/reports/junit" },
      ]
      mountPoints = [{ sourceVolume = "scratch", containerPath = local.scratch, readOnly = false }]
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.this.name
          awslogs-region        = local.region
          awslogs-stream-prefix = each.key
        }
      }
    },
    each.value == null ? {} : { entryPoint = each.value },
  )])

  tags = local.tags
}

# --- Schedules ---

resource "aws_cloudwatch_event_rule" "this" {
  for_each = local.schedules

  name                = "${var.name}-${each.key}"
  description         = local.descriptions[each.key]
  schedule_expression = each.value
  tags                = local.tags
}

resource "aws_cloudwatch_event_target" "this" {
  for_each = local.targets

  rule      = aws_cloudwatch_event_rule.this[each.value.rule].name
  target_id = each.key
  arn       = aws_ecs_cluster.this.arn
  role_arn  = aws_iam_role.events.arn
  input     = jsonencode({ containerOverrides = [{ name = "dbops", command = each.value.command }] })

  ecs_target {
    task_count          = 1
    task_definition_arn = aws_ecs_task_definition.this[each.value.task].arn
    launch_type         = "FARGATE"
    # Pinned: LATEST moves when AWS publishes a new platform, under a drill that was reviewed on this one.
    platform_version = "1.4.0"

    network_configuration {
      subnets          = var.subnet_ids
      security_groups  = [aws_security_group.this.id]
      assign_public_ip = false
    }
  }
}

# --- A task that did not succeed ---
# A task that stops with a non-zero exit code (1 an objective missed, 2 could not run, 3 interrupted,
# 4 not measured) or never starts (an image that cannot be pulled) may publish no metric at all: ECS's
# own event goes to the alarm topic, naming the task, its exit code and why it stopped.

resource "aws_cloudwatch_event_rule" "task_failed" {
  name        = "${var.name}-task-failed"
  description = "A dbops runner task of ${var.env} stopped with a non-zero exit code or failed to start"
  event_pattern = jsonencode({
    source        = ["aws.ecs"]
    "detail-type" = ["ECS Task State Change"]
    detail = {
      clusterArn = [aws_ecs_cluster.this.arn]
      lastStatus = ["STOPPED"]
      "$or" = [
        { containers = { exitCode = [{ "anything-but" = [0] }] } },
        { stopCode = ["TaskFailedToStart"] },
      ]
    }
  })
  tags = local.tags
}

resource "aws_cloudwatch_event_target" "task_failed" {
  rule      = aws_cloudwatch_event_rule.task_failed.name
  target_id = "alarm-topic"
  arn       = var.alarm_topic_arn

  input_transformer {
    input_paths = {
      task     = "$.detail.group"
      exitCode = "$.detail.containers[0].exitCode"
      reason   = "$.detail.stoppedReason"
      taskArn  = "$.detail.taskArn"
    }
    input_template = "\"dbops runner ${var.name} (${var.env}): <task> stopped, exit code <exitCode> (<reason>); its log is in ${aws_cloudwatch_log_group.this.name}, task <taskArn>\""
  }
}
