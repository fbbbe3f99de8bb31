//! Validation: options that contradict each other, `after` naming a missing field, cycles; and
//! the teardown order that results.

use syn::spanned::Spanned;
use syn::Member;

use super::attr::{member_text, FieldSpec, Order, StructOptions};

/// Checks the fields and returns the teardown order, as indexes into `fields`. Skipped fields
/// are left out: Rust drops them after the teardown.
pub fn teardown_order(fields: &[FieldSpec], order: Order) -> syn::Result<Vec<usize>> {
    for field in fields {
        if let Some(skip) = field.skip {
            let conflict = [
                field.close.as_ref().map(|_| "close"),
                field.aclose.as_ref().map(|_| "aclose"),
                field.label.as_ref().map(|_| "label"),
                field.after.first().map(|_| "after"),
                field.rank.map(|_| "rank"),
            ];
            if let Some(other) = conflict.into_iter().flatten().next() {
                return Err(syn::Error::new(
                    skip,
                    format!("`skip` cannot be combined with `{other}`: a skipped field is not torn down"),
                ));
            }
        }
    }
    for field in fields {
        if let (Some(_), Some(aclose)) = (&field.close, &field.aclose) {
            return Err(syn::Error::new(
                aclose.span(),
                "a field has one closer: `close = ..` (sync) or `aclose = ..` (async), not both",
            ));
        }
    }
    // Constraint edges: `before[i]` lists the fields that must be torn down before field `i`.
    let mut before: Vec<Vec<usize>> = vec![Vec::new(); fields.len()];
    for (index, field) in fields.iter().enumerate() {
        for target in &field.after {
            let found = fields
                .iter()
                .position(|other| same_member(&other.member, target));
            let Some(found) = found else {
                return Err(syn::Error::new(
                    target.span(),
                    format!(
                        "no field `{}` to tear down before `{}`; fields are {}",
                        member_text(target),
                        member_text(&field.member),
                        list(fields)
                    ),
                ));
            };
            if found == index {
                return Err(syn::Error::new(
                    target.span(),
                    "a field cannot be torn down after itself",
                ));
            }
            if fields[found].skip.is_some() {
                return Err(syn::Error::new(
                    target.span(),
                    format!(
                        "`after` names the skipped field `{}`, which is not torn down",
                        member_text(target)
                    ),
                ));
            }
            before[index].push(found);
        }
    }
    let base = |index: usize| match order {
        Order::Reverse => fields.len() - index,
        Order::Declaration => index,
    };
    // Kahn's algorithm, always taking the ready field with the lowest (rank, base position).
    let mut done = vec![false; fields.len()];
    let mut result = Vec::new();
    let managed: Vec<usize> = (0..fields.len())
        .filter(|&i| fields[i].skip.is_none())
        .collect();
    while result.len() < managed.len() {
        let next = managed
            .iter()
            .copied()
            .filter(|&i| !done[i] && before[i].iter().all(|&j| done[j]))
            .min_by_key(|&i| (fields[i].rank.map_or(0, |(rank, _)| rank), base(i)));
        let Some(next) = next else {
            return Err(cycle_error(fields, &before, &done));
        };
        done[next] = true;
        result.push(next);
    }
    Ok(result)
}

fn same_member(a: &Member, b: &Member) -> bool {
    member_text(a) == member_text(b)
}

fn list(fields: &[FieldSpec]) -> String {
    fields
        .iter()
        .map(|field| format!("`{}`", member_text(&field.member)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Names the fields of one cycle, spanned on the first `after` in it.
fn cycle_error(fields: &[FieldSpec], before: &[Vec<usize>], done: &[bool]) -> syn::Error {
    // Every field left has a pending predecessor: walk them until one repeats.
    let mut path = Vec::new();
    let mut current = (0..fields.len())
        .find(|&i| !done[i] && fields[i].skip.is_none())
        .unwrap_or(0);
    while !path.contains(&current) {
        path.push(current);
        current = before[current]
            .iter()
            .copied()
            .find(|&j| !done[j])
            .unwrap_or(current);
    }
    let start = path.iter().position(|&i| i == current).unwrap_or(0);
    let cycle = &path[start..];
    let names = cycle
        .iter()
        .chain(cycle.first())
        .map(|&i| format!("`{}`", member_text(&fields[i].member)))
        .collect::<Vec<_>>()
        .join(" after ");
    let span = fields[cycle[0]]
        .after
        .first()
        .map_or_else(proc_macro2::Span::call_site, Spanned::span);
    syn::Error::new(span, format!("`after` forms a cycle: {names}"))
}

/// The struct options that need the fields: `concurrent` and `limit` are for a struct with an
/// async field (waves overlap async closers; sync ones cannot overlap).
pub fn async_options(fields: &[FieldSpec], options: &StructOptions) -> syn::Result<()> {
    let has_async = fields.iter().any(|field| field.aclose.is_some());
    if let (Some((_, span)), None) = (options.limit, options.concurrent) {
        return Err(syn::Error::new(
            span,
            "`limit` bounds a concurrent teardown: write `#[managed(concurrent, limit = n)]`",
        ));
    }
    if let (Some(span), false) = (options.concurrent, has_async) {
        return Err(syn::Error::new(
            span,
            "`concurrent` needs a field with an async closer (`aclose = ..`): sync closers \
             cannot overlap",
        ));
    }
    Ok(())
}

/// The teardown waves of a concurrent teardown, from the teardown `order`: a field goes in the
/// wave after the last of the fields it is torn down `after`, and after every field of a lower
/// `rank` that comes before it in `order`; the default order (reverse declaration) is not a
/// constraint. Each wave lists its fields in teardown order.
pub fn waves(fields: &[FieldSpec], order: &[usize]) -> Vec<Vec<usize>> {
    let rank = |i: usize| fields[i].rank.map_or(0, |(rank, _)| rank);
    let mut level = vec![0usize; fields.len()];
    let mut waves: Vec<Vec<usize>> = Vec::new();
    for (position, &i) in order.iter().enumerate() {
        let mut wave = 0;
        for &j in &order[..position] {
            let after = fields[i]
                .after
                .iter()
                .any(|target| same_member(target, &fields[j].member));
            if after || rank(j) < rank(i) {
                wave = wave.max(level[j] + 1);
            }
        }
        level[i] = wave;
        if waves.len() <= wave {
            waves.resize_with(wave + 1, Vec::new);
        }
        waves[wave].push(i);
    }
    waves
}
