//! Money integrity, as pure functions: an order's payments, refunds, disputes and payment
//! failures are kept in its [`Ledger`], keyed by the Stripe object each came from, and the
//! order's status and figures are always recomputed from the ledger. So the same set of
//! events gives the same order whatever order they arrive in, and a redelivery changes nothing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::billing::{Order, OrderStatus};

/// One recorded payment (the key is its payment intent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentLine {
    /// Amount, minor unit.
    pub amount_cents: i64,
    /// ISO currency, lower case; counted only when it is the order's.
    pub currency: String,
    /// The role the metadata gave (`deposit`, `balance`, `full`, `unspecified`).
    pub role: String,
}

/// What a charge has had refunded so far (the key is the charge).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundLine {
    /// The payment intent charged, when known.
    pub payment_intent: Option<String>,
    /// Cumulative refunded amount on the charge (only grows).
    pub refunded_cents: i64,
    /// ISO currency.
    pub currency: String,
}

/// A dispute on one of the order's payments (the key is the dispute).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisputeLine {
    /// Stripe status at the last applied event.
    pub status: String,
    /// Closed (`charge.dispute.closed` applied); a late `created` never reopens it.
    pub closed: bool,
}

/// Everything that happened to an order's money, keyed so that each fact is stored once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    /// Payments by payment intent.
    #[serde(default)]
    pub payments: BTreeMap<String, PaymentLine>,
    /// Refunds by charge.
    #[serde(default)]
    pub refunds: BTreeMap<String, RefundLine>,
    /// Disputes by dispute id.
    #[serde(default)]
    pub disputes: BTreeMap<String, DisputeLine>,
    /// Payment failures by payment intent (decline code).
    #[serde(default)]
    pub failures: BTreeMap<String, String>,
}

/// Something about an order's money that an operator must look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anomaly {
    /// A payment in another currency than the order's (recorded, not counted).
    CurrencyMismatch {
        /// The payment intent.
        payment_intent: String,
        /// Its currency.
        currency: String,
    },
    /// More was paid than the order total.
    Overpaid {
        /// Paid beyond the total, minor unit.
        excess_cents: i64,
    },
}

impl Anomaly {
    /// Stable key of this anomaly on its order (keys its alert email).
    pub fn key(&self) -> String {
        match self {
            Self::CurrencyMismatch { payment_intent, .. } => {
                format!("currency-mismatch#{payment_intent}")
            }
            Self::Overpaid { .. } => "overpaid".to_owned(),
        }
    }

    /// Operator-facing description.
    pub fn describe(&self, order: &Order) -> String {
        match self {
            Self::CurrencyMismatch {
                payment_intent,
                currency,
            } => format!(
                "payment {payment_intent} is in {currency}, the order is in {}; recorded, not counted",
                order.currency
            ),
            Self::Overpaid { excess_cents } => format!(
                "paid {} {} on a total of {}: {excess_cents} over",
                order.paid_cents, order.currency, order.total_cents
            ),
        }
    }
}

impl Order {
    /// The order with payment `payment_intent` recorded, or `None` if it already is.
    pub fn with_payment(&self, payment_intent: &str, line: PaymentLine) -> Option<Order> {
        if self.ledger.payments.contains_key(payment_intent) {
            return None;
        }
        self.changed(|l| {
            l.payments.insert(payment_intent.to_owned(), line);
        })
    }

    /// The order with a charge's cumulative refund, or `None` if as much is already recorded.
    pub fn with_refund(&self, charge: &str, line: RefundLine) -> Option<Order> {
        let stored = self.ledger.refunds.get(charge);
        if stored.is_some_and(|s| s.refunded_cents >= line.refunded_cents) {
            return None;
        }
        self.changed(|l| {
            l.refunds.insert(charge.to_owned(), line);
        })
    }

    /// The order with a dispute's state, or `None` if nothing changes (a closed dispute stays
    /// closed; an open one is recorded once).
    pub fn with_dispute(&self, dispute: &str, line: DisputeLine) -> Option<Order> {
        match self.ledger.disputes.get(dispute) {
            Some(stored) if stored.closed || !line.closed => None,
            _ => self.changed(|l| {
                l.disputes.insert(dispute.to_owned(), line);
            }),
        }
    }

    /// The order with a payment failure recorded, or `None` if it already is.
    pub fn with_failure(&self, payment_intent: &str, reason: &str) -> Option<Order> {
        if self.ledger.failures.contains_key(payment_intent) {
            return None;
        }
        self.changed(|l| {
            l.failures
                .insert(payment_intent.to_owned(), reason.to_owned());
        })
    }

    /// Whether what was paid (in the order's currency) covers the total.
    pub fn fully_paid(&self) -> bool {
        self.paid_cents >= self.total_cents
    }

    /// What an operator must look at.
    pub fn anomalies(&self) -> Vec<Anomaly> {
        let mut out: Vec<Anomaly> = self
            .ledger
            .payments
            .iter()
            .filter(|(_, p)| p.currency != self.currency)
            .map(|(pi, p)| Anomaly::CurrencyMismatch {
                payment_intent: pi.clone(),
                currency: p.currency.clone(),
            })
            .collect();
        if self.paid_cents > self.total_cents {
            out.push(Anomaly::Overpaid {
                excess_cents: self.paid_cents - self.total_cents,
            });
        }
        out
    }

    fn changed(&self, edit: impl FnOnce(&mut Ledger)) -> Option<Order> {
        let mut next = self.clone();
        edit(&mut next.ledger);
        next.version += 1;
        next.settle();
        Some(next)
    }

    /// Recomputes the status and figures from the ledger.
    pub fn settle(&mut self) {
        let counted = || {
            self.ledger
                .payments
                .values()
                .filter(|p| p.currency == self.currency)
        };
        self.paid_cents = counted().map(|p| p.amount_cents).sum();
        let only_deposits = counted().all(|p| p.role == "deposit");
        self.refunded_cents = self.ledger.refunds.values().map(|r| r.refunded_cents).sum();
        self.balance_cents = (self.total_cents - self.paid_cents).max(0);
        self.disputed = self.ledger.disputes.values().any(|d| !d.closed);
        self.failure_reason = self.ledger.failures.values().next_back().cloned();
        self.status = if self.refunded_cents > 0 && self.paid_cents > 0 {
            if self.refunded_cents >= self.paid_cents {
                OrderStatus::Refunded
            } else {
                OrderStatus::PartiallyRefunded
            }
        } else if self.paid_cents > 0 && self.fully_paid() {
            OrderStatus::Paid
        } else if self.paid_cents > 0 && only_deposits {
            OrderStatus::DepositPaid
        } else if self.paid_cents > 0 {
            OrderStatus::PartiallyPaid
        } else if !self.ledger.failures.is_empty() {
            OrderStatus::Failed
        } else {
            OrderStatus::Pending
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(amount: i64, currency: &str, role: &str) -> PaymentLine {
        PaymentLine {
            amount_cents: amount,
            currency: currency.into(),
            role: role.into(),
        }
    }

    fn order() -> Order {
        Order::pending("ord_1", 10_001, "usd", "a@example.com", "A")
    }

    #[test]
    fn an_odd_total_is_paid_only_when_both_parts_are_in_either_order() {
        let deposit = order()
            .with_payment("pi_d", line(5_001, "usd", "deposit"))
            .unwrap();
        assert_eq!(
            (deposit.status, deposit.paid_cents, deposit.balance_cents),
            (OrderStatus::DepositPaid, 5_001, 5_000)
        );
        let balance_first = order()
            .with_payment("pi_b", line(5_000, "usd", "balance"))
            .unwrap();
        assert_eq!(
            (balance_first.status, balance_first.balance_cents),
            (OrderStatus::PartiallyPaid, 5_001)
        );
        let a = deposit
            .with_payment("pi_b", line(5_000, "usd", "balance"))
            .unwrap();
        let b = balance_first
            .with_payment("pi_d", line(5_001, "usd", "deposit"))
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(
            (a.status, a.paid_cents, a.balance_cents),
            (OrderStatus::Paid, 10_001, 0)
        );
        assert!(
            a.with_payment("pi_b", line(5_000, "usd", "balance"))
                .is_none()
        );
        assert!(a.anomalies().is_empty());
    }

    #[test]
    fn other_currencies_and_overpayments_are_anomalies_never_payment() {
        let o = order()
            .with_payment("pi_e", line(10_001, "eur", "full"))
            .unwrap();
        assert_eq!((o.status, o.paid_cents), (OrderStatus::Pending, 0));
        assert_eq!(o.anomalies().len(), 1);
        let over = order()
            .with_payment("pi_1", line(12_000, "usd", "full"))
            .unwrap();
        assert_eq!(over.status, OrderStatus::Paid);
        assert_eq!(
            over.anomalies(),
            vec![Anomaly::Overpaid {
                excess_cents: 1_999
            }]
        );
    }

    #[test]
    fn refunds_grow_only_and_disputes_never_reopen() {
        let paid = order()
            .with_payment("pi_1", line(10_001, "usd", "full"))
            .unwrap();
        let refund = |cents| RefundLine {
            payment_intent: Some("pi_1".into()),
            refunded_cents: cents,
            currency: "usd".into(),
        };
        let part = paid.with_refund("ch_1", refund(1_000)).unwrap();
        assert_eq!(
            (part.status, part.refunded_cents),
            (OrderStatus::PartiallyRefunded, 1_000)
        );
        let full = part.with_refund("ch_1", refund(10_001)).unwrap();
        assert_eq!(full.status, OrderStatus::Refunded);
        assert!(full.with_refund("ch_1", refund(1_000)).is_none());
        let open = DisputeLine {
            status: "needs_response".into(),
            closed: false,
        };
        let closed = DisputeLine {
            status: "won".into(),
            closed: true,
        };
        let disputed = paid.with_dispute("dp_1", open.clone()).unwrap();
        assert!(disputed.disputed);
        let done = disputed.with_dispute("dp_1", closed).unwrap();
        assert!(!done.disputed);
        assert!(done.with_dispute("dp_1", open).is_none());
    }

    #[test]
    fn a_failure_marks_only_an_unpaid_order_failed() {
        let failed = order().with_failure("pi_x", "card_declined").unwrap();
        assert_eq!(failed.status, OrderStatus::Failed);
        let paid = failed
            .with_payment("pi_1", line(10_001, "usd", "full"))
            .unwrap();
        assert_eq!(paid.status, OrderStatus::Paid);
        let other_way = order()
            .with_payment("pi_1", line(10_001, "usd", "full"))
            .unwrap()
            .with_failure("pi_x", "card_declined")
            .unwrap();
        assert_eq!(paid, other_way);
    }
}
