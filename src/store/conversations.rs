//! The omnichannel view: conversations of every channel, one conversation with its messages and
//! events, and a customer's timeline across channels.

use uuid::Uuid;

use super::history::{P, keyset, page_of};
use super::rows::{
    self, call_summary_columns, conversation_columns, customer_columns, message_columns,
};
use super::{Store, StoreError};
use crate::history::{
    ConversationDetail, ConversationFilter, ConversationSummary, Cursor, Customer, Event, Page,
    PageRequest, TOTAL_CAP, Timeline,
};

/// Columns of a conversation summary: conversation (14), customer (6), call id, message count.
macro_rules! summary_select {
    () => {
        concat!(
            "SELECT ",
            conversation_columns!(),
            ", ",
            customer_columns!(),
            ", c.id, (SELECT count(*) FROM messages m WHERE m.conversation_id = v.id)
             FROM conversations v
             LEFT JOIN customers cu ON cu.id = v.customer_id
             LEFT JOIN calls c ON c.conversation_id = v.id"
        )
    };
}

const LIST: &str = concat!(
    summary_select!(),
    " WHERE v.org_id = $1
        AND ($2::text IS NULL OR v.channel = $2)
        AND ($3::text IS NULL OR v.status = $3)
        AND ($4::uuid IS NULL OR v.customer_id = $4)
        AND ($5::timestamptz IS NULL OR (v.last_activity_at, v.id) < ($5, $6))
      ORDER BY v.last_activity_at DESC, v.id DESC LIMIT $7 OFFSET $8"
);

const COUNT: &str = "SELECT count(*) FROM (SELECT 1 FROM conversations v WHERE v.org_id = $1
        AND ($2::text IS NULL OR v.channel = $2)
        AND ($3::text IS NULL OR v.status = $3)
        AND ($4::uuid IS NULL OR v.customer_id = $4)
      LIMIT $5) capped";

const ONE: &str = concat!(summary_select!(), " WHERE v.id = $1 AND v.org_id = $2");

const TIMELINE: &str = concat!(
    summary_select!(),
    " WHERE v.customer_id = $1 AND v.org_id = $2
        AND ($3::timestamptz IS NULL OR (v.initiated_at, v.id) < ($3, $4))
      ORDER BY v.initiated_at DESC, v.id DESC LIMIT $5 OFFSET $6"
);

const CALL_OF: &str = concat!(
    "SELECT ",
    call_summary_columns!(),
    " FROM calls c JOIN conversations v ON v.id = c.conversation_id WHERE c.conversation_id = $1"
);

const FIRST_MESSAGES: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages m WHERE m.conversation_id = $1 ORDER BY m.\"timestamp\", m.id LIMIT $2"
);

const CUSTOMER: &str = concat!(
    "SELECT ",
    customer_columns!(),
    " FROM customers cu WHERE cu.id = $1 AND cu.org_id = $2"
);

fn summary(row: &tokio_postgres::Row) -> Result<ConversationSummary, StoreError> {
    Ok(ConversationSummary {
        conversation: rows::conversation(row, 0)?,
        customer: rows::customer(row, 14)?,
        call_id: row.try_get(20)?,
        message_count: row.try_get(21)?,
    })
}

impl Store {
    /// A page of the organization's conversations, most recently active first.
    pub async fn list_conversations(
        &self,
        org_id: Uuid,
        filter: &ConversationFilter,
        page: &PageRequest,
    ) -> Result<Page<ConversationSummary>, StoreError> {
        let client = self.pool.get().await?;
        let channel = filter.channel.map(|c| c.as_str());
        let status = filter.status.map(|s| s.as_str());
        let (after, offset) = keyset(&page.start);
        let (after_at, after_id) = (after.map(|c| c.at), after.map(|c| c.id));
        let limit = i64::from(page.limit) + 1;
        let list: P<'_, 8> = [
            &org_id,
            &channel,
            &status,
            &filter.customer_id,
            &after_at,
            &after_id,
            &limit,
            &offset,
        ];
        let count: P<'_, 5> = [&org_id, &channel, &status, &filter.customer_id, &TOTAL_CAP];
        let (rows, total) =
            tokio::try_join!(client.query(LIST, &list), client.query_one(COUNT, &count))?;
        let items = rows.iter().map(summary).collect::<Result<Vec<_>, _>>()?;
        Ok(page_of(items, total.try_get(0)?, page.limit, |c| {
            Cursor::new(c.conversation.last_activity_at, c.conversation.id)
        }))
    }

    /// A conversation with its first messages and events; `None` when the organization has none
    /// with that id.
    pub async fn conversation_detail(
        &self,
        org_id: Uuid,
        id: Uuid,
    ) -> Result<Option<ConversationDetail>, StoreError> {
        let client = self.pool.get().await?;
        let Some(row) = client.query_opt(ONE, &[&id, &org_id]).await? else {
            return Ok(None);
        };
        let head = summary(&row)?;
        let shown = ConversationDetail::MESSAGES_SHOWN;
        let (by_id, first): (P<'_, 1>, P<'_, 2>) = ([&id], [&id, &shown]);
        let (call, messages, events) = tokio::try_join!(
            client.query_opt(CALL_OF, &by_id),
            client.query(FIRST_MESSAGES, &first),
            client.query(
                "SELECT id, message_id, event_type, details, occurred_at FROM events
                 WHERE conversation_id = $1 ORDER BY occurred_at, id LIMIT $2",
                &first
            ),
        )?;
        Ok(Some(ConversationDetail {
            conversation: head.conversation,
            customer: head.customer,
            call: call.map(|r| rows::call_summary(&r, 0)).transpose()?,
            messages: messages
                .iter()
                .map(|r| rows::message(r, 0))
                .collect::<Result<_, _>>()?,
            messages_total: head.message_count,
            events: events
                .iter()
                .map(|r| {
                    Ok(Event {
                        id: r.try_get(0)?,
                        message_id: r.try_get(1)?,
                        event_type: r.try_get(2)?,
                        details: r.try_get(3)?,
                        occurred_at: r.try_get(4)?,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
        }))
    }

    /// A customer of the organization.
    pub async fn customer(&self, org_id: Uuid, id: Uuid) -> Result<Option<Customer>, StoreError> {
        let client = self.pool.get().await?;
        let row = client.query_opt(CUSTOMER, &[&id, &org_id]).await?;
        Ok(match row {
            Some(r) => rows::customer(&r, 0)?,
            None => None,
        })
    }

    /// A customer's conversations across channels, newest first; `None` for an unknown customer.
    pub async fn customer_timeline(
        &self,
        org_id: Uuid,
        customer_id: Uuid,
        page: &PageRequest,
    ) -> Result<Option<Timeline>, StoreError> {
        let Some(customer) = self.customer(org_id, customer_id).await? else {
            return Ok(None);
        };
        let client = self.pool.get().await?;
        let (after, offset) = keyset(&page.start);
        let (after_at, after_id) = (after.map(|c| c.at), after.map(|c| c.id));
        let limit = i64::from(page.limit) + 1;
        let list: P<'_, 6> = [&customer_id, &org_id, &after_at, &after_id, &limit, &offset];
        let count: P<'_, 3> = [&customer_id, &org_id, &TOTAL_CAP];
        let (rows, total) = tokio::try_join!(
            client.query(TIMELINE, &list),
            client.query_one(
                "SELECT count(*) FROM (SELECT 1 FROM conversations
                 WHERE customer_id = $1 AND org_id = $2 LIMIT $3) capped",
                &count
            ),
        )?;
        let items = rows.iter().map(summary).collect::<Result<Vec<_>, _>>()?;
        Ok(Some(Timeline {
            customer,
            conversations: page_of(items, total.try_get(0)?, page.limit, |c| {
                Cursor::new(c.conversation.initiated_at, c.conversation.id)
            }),
        }))
    }
}
