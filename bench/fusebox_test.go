package bench

func fuseboxAdapters() []adapter { return nil }
