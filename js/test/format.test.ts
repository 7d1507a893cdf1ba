import { describe, expect, it } from "vitest";
import { fmtNum, fmtPosition, fmtSigned, fmtTime } from "../src/lib/format";

describe("format", () => {
  it("formats numbers and missing values", () => {
    expect(fmtNum(1.23456)).toBe("1.235");
    expect(fmtNum(-0.00001)).toBe("0.000");
    expect(fmtNum(null)).toBe("\u2014");
    expect(fmtNum(NaN)).toBe("\u2014");
    expect(fmtNum(2, 1)).toBe("2.0");
  });
  it("formats signed numbers", () => {
    expect(fmtSigned(0.5)).toBe("+0.500");
    expect(fmtSigned(-0.5)).toBe("\u22120.500");
    expect(fmtSigned(0)).toBe("0.000");
    expect(fmtSigned(undefined)).toBe("\u2014");
  });
  it("formats positions and times", () => {
    expect(fmtPosition(2, 10)).toBe("3 / 10");
    expect(fmtPosition(0, 0)).toBe("0 / 0");
    expect(fmtTime(0)).toBe("");
    expect(fmtTime(1_700_000_000)).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    expect(fmtTime(1_700_000_000)).toBe(fmtTime(1_700_000_000_000));
  });
});
