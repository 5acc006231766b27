"""ServiceRegistry adapters: memory (one process), static (a list from config), etcd (any etcd
cluster, or an embedded one in the data directory); the heartbeat that keeps a registration's
lease alive and the prober that health-checks registered instances."""
