// Package quota implements broker.Quota: budgets that hold the worst-case
// cost of a request before the provider is called and settle the real cost
// after, so that concurrent requests can never spend more than the budget.
//
// Memory is the embedded default for a single process.
package quota
