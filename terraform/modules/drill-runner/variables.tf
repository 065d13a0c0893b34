variable "name" {
  description = "Name of the ECS cluster and prefix of the task definitions, roles, rules and log group."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9-]{0,38}$", var.name))
    error_message = "The name must start with a letter and hold at most 39 letters, digits or hyphens (it prefixes IAM role and rule names)."
  }
}

variable "env" {
  description = "dbops env the runner drills and checks (--env ENV of every command; an [envs.ENV] table of the image's dbops.toml)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]+$", var.env))
    error_message = "The env must be a dbops env name: letters, digits, hyphens and underscores."
  }
}

variable "image" {
  description = "The dbops image (Dockerfile at the repository root), pinned by digest: REPOSITORY@sha256:DIGEST. A tag can move; a digest runs what was reviewed."
  type        = string

  validation {
    condition     = can(regex("^[^@\\s]+@sha256:[0-9a-f]{64}$", var.image))
    error_message = "The image must be pinned by digest: REPOSITORY@sha256:<64 hex digits>."
  }
}

variable "task_policy_json" {
  description = "The task role's one policy, exactly as `dbops permissions ... --format json` prints it for the runner's commands."
  type        = string

  validation {
    condition     = can(jsondecode(var.task_policy_json).Statement[0])
    error_message = "The task_policy_json must be an IAM policy document in JSON with at least one statement."
  }
}

variable "window_days" {
  description = "Days of the weekly window (UTC) in which the env's Aurora clusters run, as in dbops.toml [envs.ENV.schedule] days; the weekly drill runs on the first. null (with window_start and window_hours): the env has no window, no rule starts or stops its clusters, and the weekly drill runs at drill_schedule."
  type        = list(string)
  default     = null

  validation {
    condition     = var.window_days == null ? true : length(var.window_days) > 0 && length(distinct(var.window_days)) == length(var.window_days) && alltrue([for d in var.window_days : contains(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], d)])
    error_message = "The window_days must be distinct three-letter day names: SUN, MON, TUE, WED, THU, FRI, SAT."
  }
}

variable "window_start" {
  description = "Start of the window, HH:MM UTC, as in dbops.toml [envs.ENV.schedule] start; null when the env has no window. `dbops schedule apply` runs 20 minutes before it (ops/window.py's lead, within which dbops counts itself inside the window)."
  type        = string
  default     = null

  validation {
    condition     = var.window_start == null ? true : can(regex("^([01][0-9]|2[0-3]):[0-5][0-9]$", var.window_start))
    error_message = "The window_start must be HH:MM (00:00 to 23:59, UTC)."
  }
}

variable "window_hours" {
  description = "Length of the window in whole hours (1 to 24), as in dbops.toml [envs.ENV.schedule] hours; null when the env has no window."
  type        = number
  default     = null

  validation {
    condition     = var.window_hours == null ? true : var.window_hours >= 1 && var.window_hours <= 24 && floor(var.window_hours) == var.window_hours
    error_message = "The window_hours must be a whole number from 1 to 24."
  }
}

variable "drill_schedule" {
  description = "When the weekly drill runs if the env has no window: an EventBridge schedule expression (UTC), e.g. cron(0 1 ? * SUN *). With a window it runs at the window's start and this stays null."
  type        = string
  default     = null

  validation {
    condition     = var.drill_schedule == null ? true : can(regex("^(cron|rate)\\(.+\\)$", var.drill_schedule))
    error_message = "The drill_schedule must be an EventBridge schedule expression: cron(...) or rate(...)."
  }
}

variable "daily_at" {
  description = "When the daily `backup verify`, `cost check` and (with a window) `schedule apply` run, HH:MM UTC."
  type        = string
  default     = "06:00"

  validation {
    condition     = can(regex("^([01][0-9]|2[0-3]):[0-5][0-9]$", var.daily_at))
    error_message = "The daily_at must be HH:MM (00:00 to 23:59, UTC)."
  }
}

variable "failover_target" {
  description = "Target of the weekly failover drill, KIND:NAME (e.g. aurora:prod-aurora)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+:[A-Za-z0-9._-]+$", var.failover_target))
    error_message = "The failover_target must be KIND:NAME, e.g. aurora:prod-aurora."
  }
}

variable "restore_target" {
  description = "Target of the weekly restore drill, KIND:NAME."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+:[A-Za-z0-9._-]+$", var.restore_target))
    error_message = "The restore_target must be KIND:NAME, e.g. aurora:prod-aurora."
  }
}

variable "confirm" {
  description = "Tokens passed as --confirm to the weekly drill, `backup verify` and `cost check`. A protected env needs ENV:KIND:NAME for each target the weekly drill acts on; a token a command does not need is ignored."
  type        = list(string)
  default     = []
}

variable "schedule_confirm" {
  description = "Tokens passed as --confirm to `schedule apply` alone: a protected env needs ENV, which confirms acting on the whole env, so the drills never carry it."
  type        = list(string)
  default     = []
}

variable "env_outputs_json" {
  description = "The env's Terraform outputs dbops reads (dbops_targets, dbops_target_details) as jsonencode({NAME = VALUE}), set as DBOPS_TF_OUTPUTS in the tasks, which cannot run Terraform. Names, ARNs and endpoints only: the task definition is no place for a secret value."
  type        = string

  validation {
    condition     = can(keys(jsondecode(var.env_outputs_json)))
    error_message = "The env_outputs_json must be a JSON object of output values by name (jsonencode of a map or object)."
  }
}

variable "cpu" {
  description = "Fargate CPU units of a task (256 = 0.25 vCPU)."
  type        = number
  default     = 512

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096], var.cpu)
    error_message = "The cpu must be a Fargate size: 256, 512, 1024, 2048 or 4096."
  }
}

variable "memory" {
  description = "Memory of a task in MiB, a size Fargate accepts with cpu (256: 512-2048; 512: 1024-4096; 1024: 2048-8192; 2048: 4096-16384; 4096: 8192-30720; whole GiB above 512)."
  type        = number
  default     = 1024

  validation {
    condition     = var.memory >= 512 && var.memory <= 30720 && floor(var.memory) == var.memory
    error_message = "The memory must be a whole number of MiB from 512 to 30720."
  }
}

variable "vpc_id" {
  description = "VPC of the tasks (the Aurora cluster's)."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets the tasks run in; they reach AWS APIs through a NAT gateway or VPC endpoints."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) > 0
    error_message = "The subnet_ids must name at least one subnet."
  }
}

variable "db_security_group_ids" {
  description = "Security groups of the Aurora clusters the drills connect to, by a name of your choice (the names must be known at plan time, the ids need not be); the tasks reach each on db_port and each admits them."
  type        = map(string)
  default     = {}
}

variable "db_port" {
  description = "PostgreSQL port of the cluster."
  type        = number
  default     = 5432
}

variable "kms_key_arn" {
  description = "Customer managed key that encrypts the log group (its policy must let CloudWatch Logs use it: module kms, allow_cloudwatch_logs)."
  type        = string
}

variable "alarm_topic_arn" {
  description = "SNS topic told of every runner task that stops with a non-zero exit code or fails to start (the estate's alarm topic). EventBridge publishes to it: the topic's policy and its key must allow events.amazonaws.com (modules monitoring and kms)."
  type        = string
}

variable "log_retention_days" {
  description = "Days CloudWatch Logs keeps the tasks' output (a value AWS provider 3.39 accepts). The log is the scheduled drills' evidence (their reports live on the task's scratch storage and end with it): a year by default, as auditors ask of recovery tests."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653], var.log_retention_days)
    error_message = "The log_retention_days must be one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653."
  }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
