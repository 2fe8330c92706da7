package redisstate_test

const replicaEnv = "FUSEBOX_REDIS_REPLICA"

func replicaMain() int { return 0 }
