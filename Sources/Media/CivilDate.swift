/// Proleptic Gregorian dates from counts since 1970-01-01 (Howard Hinnant's `civil_from_days`):
/// the dates playlists and webhook bodies write by hand rather than through a formatter.
public enum CivilDate {
    public static func from(daysSince1970 days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let shifted = days + 719_468
        let era = floorDivision(shifted, 146_097)
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// The date and the UTC time of day of a millisecond count (before 1970 too). The caller
    /// keeps `milliseconds` within ±10^18 and decides how it rounds to the millisecond.
    public static func from(
        millisecondsSince1970 milliseconds: Int64
    ) -> (
        year: Int64, month: Int64, day: Int64, hour: Int64, minute: Int64, second: Int64, millisecond: Int64
    ) {
        let dayMilliseconds: Int64 = 86_400_000
        let days = floorDivision(milliseconds, dayMilliseconds)
        let inDay = milliseconds - days * dayMilliseconds
        let (year, month, day) = from(daysSince1970: days)
        return (year, month, day, inDay / 3_600_000, inDay / 60_000 % 60, inDay / 1000 % 60, inDay % 1000)
    }

    private static func floorDivision(_ a: Int64, _ b: Int64) -> Int64 {
        let quotient = a / b
        return a % b != 0 && (a < 0) != (b < 0) ? quotient - 1 : quotient
    }
}
