//! The CRM search request and answer, and windowing: a search can never page past 10,000
//! results, so reading everything sorts by `hs_object_id` ascending and, before the cap is
//! reached, restarts the query with `hs_object_id GT <last id seen>`.

use crate::error::HubSpotError;
use crate::record::HubSpotRecord;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};

/// HubSpot refuses (400) any page that starts at or beyond this many results.
pub const SEARCH_RESULT_CAP: usize = 10_000;
/// Most results one search page may return.
pub const SEARCH_PAGE_LIMIT: u32 = 200;
/// Filter groups per search (FACTS.md: design for at most 5).
pub const MAX_FILTER_GROUPS: usize = 5;
/// Filters per search across all groups.
pub const MAX_FILTERS_TOTAL: usize = 18;
/// The property every CRM object carries: its id, as a sortable number.
pub const OBJECT_ID_PROPERTY: &str = "hs_object_id";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Operator {
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
    Between,
    In,
    NotIn,
    HasProperty,
    NotHasProperty,
    ContainsToken,
    NotContainsToken,
}

/// One condition: `propertyName operator value` (or `values`, or `value..highValue`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    pub property_name: String,
    pub operator: Operator,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
}

impl Filter {
    pub fn new(
        property_name: impl Into<String>,
        operator: Operator,
        value: impl Into<String>,
    ) -> Self {
        Self {
            property_name: property_name.into(),
            operator,
            value: Some(value.into()),
            high_value: None,
            values: None,
        }
    }

    pub fn eq(property_name: impl Into<String>, value: impl Into<String>) -> Self {
        Self::new(property_name, Operator::Eq, value)
    }

    pub fn in_values(property_name: impl Into<String>, values: Vec<String>) -> Self {
        Self {
            property_name: property_name.into(),
            operator: Operator::In,
            value: None,
            high_value: None,
            values: Some(values),
        }
    }

    pub fn has_property(property_name: impl Into<String>) -> Self {
        Self {
            property_name: property_name.into(),
            operator: Operator::HasProperty,
            value: None,
            high_value: None,
            values: None,
        }
    }
}

/// Filters that must all hold (AND). Groups are alternatives (OR).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterGroup {
    pub filters: Vec<Filter>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortDirection {
    Ascending,
    Descending,
}

/// A sort key. HubSpot's spec types sort entries as strings (a property name sorts ascending)
/// while its guides send `{propertyName, direction}` objects; an ascending sort is sent as the
/// plain name, valid under both readings, and a descending one as the documented object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sort {
    pub property_name: String,
    pub direction: SortDirection,
}

impl Sort {
    pub fn ascending(property_name: impl Into<String>) -> Self {
        Self {
            property_name: property_name.into(),
            direction: SortDirection::Ascending,
        }
    }

    pub fn descending(property_name: impl Into<String>) -> Self {
        Self {
            property_name: property_name.into(),
            direction: SortDirection::Descending,
        }
    }
}

impl Serialize for Sort {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.direction {
            SortDirection::Ascending => serializer.serialize_str(&self.property_name),
            SortDirection::Descending => {
                let mut object = serializer.serialize_struct("Sort", 2)?;
                object.serialize_field("propertyName", &self.property_name)?;
                object.serialize_field("direction", "DESCENDING")?;
                object.end()
            }
        }
    }
}

/// A search request. Every field the spec marks required is always sent (`after` is `"0"` on
/// the first page).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchRequest {
    pub filter_groups: Vec<FilterGroup>,
    pub sorts: Vec<Sort>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Properties to return; HubSpot returns a small default set when empty.
    pub properties: Vec<String>,
    pub limit: u32,
    pub after: String,
}

impl Default for SearchRequest {
    fn default() -> Self {
        Self {
            filter_groups: Vec::new(),
            sorts: Vec::new(),
            query: None,
            properties: Vec::new(),
            limit: 100,
            after: "0".to_owned(),
        }
    }
}

impl SearchRequest {
    /// Refuses requests HubSpot would reject: too many groups or filters, a limit over 200.
    pub fn check_limits(&self) -> Result<(), HubSpotError> {
        let filters: usize = self.filter_groups.iter().map(|g| g.filters.len()).sum();
        if self.filter_groups.len() > MAX_FILTER_GROUPS {
            return Err(HubSpotError::InvalidRequest(format!(
                "{} filter groups; at most {MAX_FILTER_GROUPS}",
                self.filter_groups.len()
            )));
        }
        if filters > MAX_FILTERS_TOTAL {
            return Err(HubSpotError::InvalidRequest(format!(
                "{filters} filters; at most {MAX_FILTERS_TOTAL}"
            )));
        }
        if self.limit == 0 || self.limit > SEARCH_PAGE_LIMIT {
            return Err(HubSpotError::InvalidRequest(format!(
                "limit {}; 1 to {SEARCH_PAGE_LIMIT}",
                self.limit
            )));
        }
        Ok(())
    }
}

/// One page of search results.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchPage {
    /// Matches in total (as HubSpot counts them, capped results or not).
    pub total: u64,
    pub results: Vec<HubSpotRecord>,
    /// Cursor of the next page; `None` on the last.
    pub next_after: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct PagingNext {
    pub after: String,
}

#[derive(Deserialize)]
pub(crate) struct Paging {
    pub next: Option<PagingNext>,
}

#[derive(Deserialize)]
pub(crate) struct SearchAnswer {
    #[serde(default)]
    pub total: u64,
    #[serde(default)]
    pub results: Vec<HubSpotRecord>,
    #[serde(default)]
    pub paging: Option<Paging>,
}

impl From<SearchAnswer> for SearchPage {
    fn from(answer: SearchAnswer) -> Self {
        Self {
            total: answer.total,
            results: answer.results,
            next_after: answer.paging.and_then(|p| p.next).map(|n| n.after),
        }
    }
}

/// Walks every result of a search past the 10,000 cap. Pure: it says which request to send
/// next and learns from each page; the client does the sending.
#[derive(Clone, Debug)]
pub struct SearchWindow {
    base: SearchRequest,
    cap: usize,
    /// Only ids above this are asked for (the last id of the previous window).
    floor: Option<u64>,
    fetched_in_window: usize,
    after: Option<String>,
    last_id: Option<u64>,
    done: bool,
    windows_started: usize,
}

impl SearchWindow {
    /// `request`'s filters, query and properties are kept; its sorts and cursor are replaced
    /// by `hs_object_id` ascending. `cap` is HubSpot's 10,000 (smaller in tests).
    pub fn new(request: SearchRequest, cap: usize) -> Result<Self, HubSpotError> {
        let mut base = request;
        base.sorts = vec![Sort::ascending(OBJECT_ID_PROPERTY)];
        base.after = "0".to_owned();
        if !base.properties.is_empty() && !base.properties.iter().any(|p| p == OBJECT_ID_PROPERTY) {
            base.properties.push(OBJECT_ID_PROPERTY.to_owned());
        }
        if cap < base.limit as usize {
            return Err(HubSpotError::InvalidRequest(format!(
                "cap {cap} is below the page limit {}",
                base.limit
            )));
        }
        let window = Self {
            base,
            cap,
            floor: None,
            fetched_in_window: 0,
            after: None,
            last_id: None,
            done: false,
            windows_started: 1,
        };
        // The restarted query adds one filter per group: check that form fits HubSpot's limits.
        window.request_with_floor(Some(0)).check_limits()?;
        Ok(window)
    }

    /// The next request to send, or `None` when every result has been read.
    pub fn next_request(&self) -> Option<SearchRequest> {
        (!self.done).then(|| self.request_with_floor(self.floor))
    }

    /// How many windows (query restarts + 1) the walk has used so far.
    pub fn windows_started(&self) -> usize {
        self.windows_started
    }

    fn request_with_floor(&self, floor: Option<u64>) -> SearchRequest {
        let mut request = self.base.clone();
        if let Some(after) = &self.after {
            request.after = after.clone();
        }
        if let Some(floor) = floor {
            let above_floor = Filter::new(OBJECT_ID_PROPERTY, Operator::Gt, floor.to_string());
            if request.filter_groups.is_empty() {
                request.filter_groups.push(FilterGroup::default());
            }
            for group in &mut request.filter_groups {
                group.filters.push(above_floor.clone());
            }
        }
        request
    }

    /// Learns from the answer to the last [`Self::next_request`].
    pub fn record_page(&mut self, page: &SearchPage) {
        self.fetched_in_window += page.results.len();
        if let Some(last) = page.results.iter().map(|c| c.id.as_u64()).max() {
            self.last_id = Some(self.last_id.map_or(last, |seen| seen.max(last)));
        }
        let next_after = match (&page.next_after, page.results.is_empty()) {
            (Some(after), false) => after,
            // No next page, or an empty page that still claims one: stop rather than loop.
            _ => {
                self.done = true;
                return;
            }
        };
        if self.fetched_in_window + self.base.limit as usize > self.cap {
            // The next page would start at or past the cap: restart above the last id seen.
            self.floor = self.last_id;
            self.fetched_in_window = 0;
            self.after = None;
            self.windows_started += 1;
        } else {
            self.after = Some(next_after.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::HubSpotId;
    use chrono::Utc;

    fn company(id: u64) -> HubSpotRecord {
        HubSpotRecord {
            id: HubSpotId::from(id),
            properties: Default::default(),
            properties_with_history: Default::default(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
            archived: false,
            archived_at: None,
        }
    }

    /// A search engine as HubSpot behaves: offset paging, ascending ids, 400 past the cap.
    fn serve(ids: &[u64], request: &SearchRequest, cap: usize) -> Result<SearchPage, String> {
        let offset: usize = request.after.parse().map_err(|_| "bad after")?;
        if offset >= cap {
            return Err(format!("paged past the cap: after={offset}"));
        }
        let floor = request
            .filter_groups
            .iter()
            .flat_map(|g| &g.filters)
            .filter(|f| f.property_name == OBJECT_ID_PROPERTY && f.operator == Operator::Gt)
            .filter_map(|f| f.value.as_deref()?.parse::<u64>().ok())
            .max();
        let matching: Vec<u64> = ids
            .iter()
            .copied()
            .filter(|id| floor.is_none_or(|f| *id > f))
            .collect();
        let page: Vec<HubSpotRecord> = matching
            .iter()
            .skip(offset)
            .take(request.limit as usize)
            .map(|id| company(*id))
            .collect();
        let next = offset + page.len();
        Ok(SearchPage {
            total: matching.len() as u64,
            next_after: (next < matching.len()).then(|| next.to_string()),
            results: page,
        })
    }

    fn walk(ids: &[u64], limit: u32, cap: usize) -> (Vec<u64>, usize) {
        let request = SearchRequest {
            limit,
            ..SearchRequest::default()
        };
        let mut window = SearchWindow::new(request, cap).unwrap();
        let mut seen = Vec::new();
        let mut pages = 0;
        while let Some(request) = window.next_request() {
            assert_eq!(request.sorts, vec![Sort::ascending(OBJECT_ID_PROPERTY)]);
            let page = serve(ids, &request, cap).unwrap();
            seen.extend(page.results.iter().map(|c| c.id.as_u64()));
            window.record_page(&page);
            pages += 1;
            assert!(pages < 10_000, "the walk must end");
        }
        (seen, window.windows_started())
    }

    #[test]
    fn reads_every_result_exactly_once_past_the_cap() {
        // Ids with gaps, as HubSpot's are.
        let ids: Vec<u64> = (1..=25_000u64).map(|i| i * 3 + 1000).collect();
        let (seen, windows) = walk(&ids, 200, SEARCH_RESULT_CAP);
        assert_eq!(seen, ids);
        assert_eq!(windows, 3, "25,000 results in windows of 10,000");
    }

    #[test]
    fn windows_with_uneven_page_sizes_and_small_caps() {
        for (count, limit, cap) in [
            (0, 100, 1000),
            (1, 100, 1000),
            (999, 100, 1000),
            (1000, 100, 1000),
            (1001, 100, 1000),
            (2345, 7, 50),
            (500, 200, 250),
        ] {
            let ids: Vec<u64> = (1..=count).collect();
            let (seen, _) = walk(&ids, limit, cap);
            assert_eq!(seen, ids, "count {count} limit {limit} cap {cap}");
        }
    }

    #[test]
    fn keeps_filters_and_adds_the_floor_to_every_group() {
        let request = SearchRequest {
            filter_groups: vec![
                FilterGroup {
                    filters: vec![Filter::eq("warp_status", "ACTIVE")],
                },
                FilterGroup {
                    filters: vec![Filter::eq("warp_status", "SUSPENDED")],
                },
            ],
            properties: vec!["warp_ban".into()],
            limit: 2,
            ..SearchRequest::default()
        };
        let mut window = SearchWindow::new(request, 4).unwrap();
        let first = window.next_request().unwrap();
        assert_eq!(
            first.filter_groups[0].filters.len(),
            1,
            "no floor in the first window"
        );
        assert!(first.properties.contains(&OBJECT_ID_PROPERTY.to_owned()));
        window.record_page(&SearchPage {
            total: 9,
            results: vec![company(5), company(8)],
            next_after: Some("2".into()),
        });
        assert_eq!(window.next_request().unwrap().after, "2");
        window.record_page(&SearchPage {
            total: 9,
            results: vec![company(9), company(12)],
            next_after: Some("4".into()),
        });
        let restarted = window.next_request().unwrap();
        assert_eq!(
            restarted.after, "0",
            "a new window starts from the first page"
        );
        for group in &restarted.filter_groups {
            assert_eq!(group.filters.len(), 2);
            assert_eq!(
                group.filters[1],
                Filter::new(OBJECT_ID_PROPERTY, Operator::Gt, "12")
            );
        }
    }

    #[test]
    fn refuses_requests_over_hubspots_limits() {
        let too_many_groups = SearchRequest {
            filter_groups: vec![FilterGroup::default(); 6],
            ..Default::default()
        };
        assert!(too_many_groups.check_limits().is_err());
        let filters = vec![Filter::has_property("name"); 4];
        let groups = vec![FilterGroup { filters }; 4];
        let sixteen = SearchRequest {
            filter_groups: groups,
            ..Default::default()
        };
        assert!(sixteen.check_limits().is_ok());
        assert!(
            SearchWindow::new(sixteen, SEARCH_RESULT_CAP).is_err(),
            "16 + 4 floor filters exceed 18"
        );
        assert!(
            SearchRequest {
                limit: 201,
                ..Default::default()
            }
            .check_limits()
            .is_err()
        );
    }

    #[test]
    fn serialises_as_hubspot_expects() {
        let request = SearchRequest {
            filter_groups: vec![FilterGroup {
                filters: vec![Filter::in_values("warp_ban", vec!["A".into()])],
            }],
            sorts: vec![
                Sort::ascending("hs_object_id"),
                Sort::descending("createdate"),
            ],
            ..Default::default()
        };
        let json = serde_json::to_value(&request).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "filterGroups":[{"filters":[{"propertyName":"warp_ban","operator":"IN","values":["A"]}]}],
                "sorts":["hs_object_id",{"propertyName":"createdate","direction":"DESCENDING"}],
                "properties":[],"limit":100,"after":"0"
            })
        );
    }
}
