//! Reading typed values out of rows that both engines return.

use jiff::civil::Date;
use monban_core::text::Code;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::StoreError;

pub(crate) fn i64_(row: &AnyRow, col: &str) -> Result<i64, StoreError> {
    Ok(row.try_get::<i64, _>(col)?)
}

pub(crate) fn opt_i64(row: &AnyRow, col: &str) -> Result<Option<i64>, StoreError> {
    Ok(row.try_get::<Option<i64>, _>(col)?)
}

pub(crate) fn text(row: &AnyRow, col: &str) -> Result<String, StoreError> {
    Ok(row.try_get::<String, _>(col)?)
}

pub(crate) fn opt_text(row: &AnyRow, col: &str) -> Result<Option<String>, StoreError> {
    Ok(row.try_get::<Option<String>, _>(col)?)
}

pub(crate) fn bool_(row: &AnyRow, col: &str) -> Result<bool, StoreError> {
    Ok(i64_(row, col)? != 0)
}

pub(crate) fn code<T: Code>(row: &AnyRow, col: &str) -> Result<T, StoreError> {
    let s = text(row, col)?;
    T::parse_code(col, &s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn opt_date(row: &AnyRow, col: &str) -> Result<Option<Date>, StoreError> {
    match opt_text(row, col)? {
        None => Ok(None),
        Some(s) => s
            .parse::<Date>()
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("{col}: {e}"))),
    }
}

pub(crate) fn ts(row: &AnyRow, col: &str) -> Result<jiff::Timestamp, StoreError> {
    let v = i64_(row, col)?;
    jiff::Timestamp::from_microsecond(v).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

pub(crate) fn date_text(d: Option<Date>) -> Option<String> {
    d.map(|d| d.to_string())
}
