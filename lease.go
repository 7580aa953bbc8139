package slackbot

// Lease names one job's lease as its holder knows it: the job and the
// Job.LeaseOwner it was leased to ("<owner>/<token>", unique to the lease).
type Lease struct {
	JobID string
	Owner string
}
